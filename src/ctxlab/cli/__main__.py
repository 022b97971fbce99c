import sys

from ctxlab.cli.main import main

sys.exit(main())
