"""``python -m gateway.edge``: the ``hedui edge`` commands (the sandbox starts edge nodes this way)."""

from gateway.edge.cli import edge_app

if __name__ == "__main__":
    edge_app(prog_name="hedui edge")
