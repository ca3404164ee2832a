"""runpad as an MCP server (`runpad mcp`; the `mcp` extra): sandboxed Python, SQL, Graphviz
and the analysis graph for any MCP client.

The server needs the official MCP SDK (`pip install 'runpad[mcp]'`); importing
`runpad.mcp.server` or `runpad.mcp.transports` without it raises ImportError. See
docs/mcp.md.
"""

from runpad.mcp.settings import McpSettings

__all__ = ["McpSettings"]
