"""A set of file changes staged over a base tree, turned into a new tree in one pass."""

from __future__ import annotations

from collections.abc import Iterator

import pygit2

from schemas.names import validate_name

_DELETED = None


def _check_path(path: str) -> list[str]:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid path {path!r} in the state repository")
    if parts[0] in ("projects", "service-accounts") and len(parts) > 1:
        validate_name(parts[1], "project name")
    return parts


class Edit:
    """Reads see the base tree with the staged changes on top; ``build`` writes the new tree.

    A transaction's change function receives one of these. It may run more than once (a writer
    that loses the race re-applies its change on the new head), so it must only read and write
    through this object.
    """

    def __init__(self, repo: pygit2.Repository, base: pygit2.Tree | None):
        self._repo = repo
        self._base = base
        self._staged: dict[str, bytes | None] = {}
        self._deleted_dirs: set[str] = set()

    @property
    def changed(self) -> bool:
        return bool(self._staged or self._deleted_dirs)

    def read(self, path: str) -> bytes | None:
        _check_path(path)
        if path in self._staged:
            return self._staged[path]
        if self._under_deleted_dir(path) or self._base is None:
            return None
        try:
            obj = self._base[path]
        except KeyError:
            return None
        if obj.type != pygit2.GIT_OBJECT_BLOB:
            return None
        return self._repo[obj.id].data

    def read_base(self, path: str) -> bytes | None:
        """``path`` as it was before this edit staged anything."""
        return Edit(self._repo, self._base).read(path)

    def exists(self, path: str) -> bool:
        return self.read(path) is not None or bool(self.list(path))

    def list(self, directory: str) -> list[str]:
        """Names directly inside ``directory`` (files and folders), staged changes included."""
        _check_path(directory)
        names: set[str] = set()
        if self._base is not None and not self._under_deleted_dir(directory + "/x"):
            try:
                tree = self._base[directory]
            except KeyError:
                tree = None
            if tree is not None and tree.type == pygit2.GIT_OBJECT_TREE:
                names.update(entry.name for entry in self._repo[tree.id])
        prefix = directory + "/"
        for path, data in self._staged.items():
            if path.startswith(prefix):
                name = path[len(prefix) :].split("/", 1)[0]
                if data is not None:
                    names.add(name)
                elif "/" not in path[len(prefix) :]:
                    names.discard(name)
        return sorted(n for n in names if self._still_there(f"{prefix}{n}"))

    def write(self, path: str, data: bytes | str) -> None:
        _check_path(path)
        self._staged[path] = data.encode("utf-8") if isinstance(data, str) else data

    def delete(self, path: str) -> None:
        """Delete a file, or a whole folder with everything under it."""
        _check_path(path)
        if self.read(path) is not None or path in self._staged:
            self._staged[path] = _DELETED
            return
        self._deleted_dirs.add(path)
        for staged in [p for p in self._staged if p.startswith(path + "/")]:
            del self._staged[staged]

    def build(self) -> pygit2.Oid:
        """Write blobs and trees for the staged changes; return the new root tree id."""
        root = _Node()
        for directory in self._deleted_dirs:
            root.child_path(directory.split("/")).deleted = True
        for path, data in self._staged.items():
            parts = path.split("/")
            node = root.child_path(parts[:-1])
            node.files[parts[-1]] = None if data is None else self._repo.create_blob(data)
        tree_id = self._write(self._base, root)
        return tree_id if tree_id is not None else self._repo.TreeBuilder().write()

    def _write(self, base: pygit2.Tree | None, node: _Node) -> pygit2.Oid | None:
        builder = self._repo.TreeBuilder(base) if base is not None and not node.deleted else None
        builder = builder or self._repo.TreeBuilder()
        for name, blob in node.files.items():
            if blob is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, blob, pygit2.GIT_FILEMODE_BLOB)
        for name, child in node.dirs.items():
            child_base = None
            if base is not None and not node.deleted:
                entry = builder.get(name)
                if entry is not None and entry.type == pygit2.GIT_OBJECT_TREE:
                    child_base = self._repo[entry.id]
            child_id = self._write(child_base, child)
            if child_id is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, child_id, pygit2.GIT_FILEMODE_TREE)
        if len(builder) == 0:
            return None
        return builder.write()

    def _under_deleted_dir(self, path: str) -> bool:
        return any(path.startswith(d + "/") for d in self._deleted_dirs)

    def _still_there(self, path: str) -> bool:
        if path in self._staged:
            return self._staged[path] is not None
        if path in self._deleted_dirs or self._under_deleted_dir(path):
            return any(p.startswith(path + "/") and d is not None for p, d in self._staged.items())
        return True

    def staged_paths(self) -> Iterator[str]:
        yield from self._staged
        yield from self._deleted_dirs


class _Node:
    __slots__ = ("deleted", "dirs", "files")

    def __init__(self) -> None:
        self.files: dict[str, pygit2.Oid | None] = {}
        self.dirs: dict[str, _Node] = {}
        self.deleted = False

    def child_path(self, parts: list[str]) -> _Node:
        node = self
        for part in parts:
            node = node.dirs.setdefault(part, _Node())
        return node
