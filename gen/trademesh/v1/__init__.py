"""Generated from protos/trademesh/v1; regenerate with scripts/gen_protos.py."""
