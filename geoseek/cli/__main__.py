"""``python -m geoseek.cli``."""
from geoseek.cli import app

app()
