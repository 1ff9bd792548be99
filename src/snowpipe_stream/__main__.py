"""``python -m snowpipe_stream`` runs the ``snowpipe-stream`` command."""

from .cli import main

main(prog_name="snowpipe-stream")
