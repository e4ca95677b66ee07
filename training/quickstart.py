"""``make demo``: the offline CPU quickstart (lands with the training issue)."""
import sys

if __name__ == "__main__":
    print("make demo: the training quickstart is not yet available; until it lands, "
          "`.venv/bin/mln-pose summary` shows the network (see README.md).")
    sys.exit(0)
