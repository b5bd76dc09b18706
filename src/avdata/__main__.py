"""`python -m avdata` runs the command-line tool."""

from avdata.cli.main import entry

if __name__ == "__main__":
    entry()
