"""The shared runtime of trademesh: configuration, gRPC serving, tokens, embedded servers.

It imports no service package; services and the `trademesh` command import it.
"""
