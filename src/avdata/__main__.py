"""`python -m avdata` runs the command-line tool."""

from avdata.cli.main import main

if __name__ == "__main__":
    main()
