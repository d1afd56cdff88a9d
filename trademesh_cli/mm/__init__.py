"""The market maker: an ordinary gRPC client of the engine that quotes around the index."""
