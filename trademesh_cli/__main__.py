"""``python -m trademesh_cli`` — the same as the ``trademesh`` command."""

from trademesh_cli.main import main

raise SystemExit(main())
