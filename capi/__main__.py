"""`python -m capi`: the same as the `capi` command."""

from capi.tools.cli import main

raise SystemExit(main())
