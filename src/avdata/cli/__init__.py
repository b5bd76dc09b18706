"""Thin command-line commands; each calls the library function of the same name."""
