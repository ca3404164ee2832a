"""The security suite: attacks on the sandbox, each shown to fail while host and session live."""
