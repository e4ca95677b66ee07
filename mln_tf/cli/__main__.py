"""``python -m mln_tf.cli`` is ``mln-pose``."""

import sys

from mln_tf.cli.main import main

sys.exit(main())
