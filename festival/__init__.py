"""festival: a film festival programme server."""
