import sys

from edmips.cli import main

sys.exit(main())
