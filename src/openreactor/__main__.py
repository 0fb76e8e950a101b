import sys

from openreactor.cli import main

sys.exit(main())
