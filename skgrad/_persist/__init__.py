"""The parts of :mod:`skgrad.persistence`: the zip archive (``archive``), the typed JSON
values (``values``), the checks by parameter and attribute name (``rules``) and the
classes a file may name (``classes``).  Nothing here imports or calls anything by a name
read from a file."""
