"""Generated code for the trademesh.v1 contracts (see protos/)."""
