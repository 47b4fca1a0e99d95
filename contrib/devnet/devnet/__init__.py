"""DeLong's local Ethereum devnet: a JSON-RPC server over a py-evm chain (see ../README.md)."""
