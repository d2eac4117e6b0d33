"""`python -m loragossip`: the same as the `loragossip` command."""

import sys

from loragossip.main import main

sys.exit(main())
