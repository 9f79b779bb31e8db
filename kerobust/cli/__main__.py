import sys

from kerobust.cli.main import main

sys.exit(main())
