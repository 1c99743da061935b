"""`python -m capi`: the same as the `capi` command."""

from capi.cli import main

raise SystemExit(main())
