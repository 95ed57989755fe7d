"""`python -m viperhttp run module:app` (docs/guide/deployment.md)."""
import sys

from viperhttp.cli import main

sys.exit(main())
