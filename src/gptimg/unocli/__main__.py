import sys

from gptimg.unocli import main

sys.exit(main())
