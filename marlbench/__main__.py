"""``python -m marlbench``: the same command line as the ``marlbench`` script."""

from marlbench.cli.entry import main

if __name__ == "__main__":
    main()
