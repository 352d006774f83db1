"""Files jobctl creates are private to the user: directories 0700, files 0600 (log folders
an admin shares with a group excepted: see logfolders._shared_group). What it finds in their
place must be as private: a real folder or file of this user's (the effective uid)
that group and others cannot write to. Anything else may have been planted by another user,
to read what jobctl writes there or to hand it their own content, and is refused."""

from __future__ import annotations

import errno
import functools
import os
import stat
from pathlib import Path

# A folder opened as itself, never through a link, and not into a child process.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def xdg_base(variable: str, fallback: str) -> str:
    """An XDG base folder: $XDG_STATE_HOME or $XDG_CONFIG_HOME, else its default under HOME
    (`fallback`, e.g. ".local/state"). A relative value is ignored, as the XDG spec says:
    taken as it is, each working folder would get its own queue. With no home (no $HOME
    and no passwd entry: `docker run --user 12345`, `env -i`), the state folder is a usage
    error saying what to set: a literal `~` would put the queue in a folder of that name
    in the working folder, or fail later as an unexpected error. So is root's, under a home
    another user owns (see _check_home_owner). A config is only looked for under the config
    folder: there, `~/.config` is kept, and not found."""
    value = os.environ.get(variable, "")
    if os.path.isabs(value):
        return value
    home = os.path.expanduser("~")
    if os.path.isabs(home):
        if variable == "XDG_STATE_HOME":
            _check_home_owner(home)
        return os.path.join(home, fallback)
    if variable == "XDG_STATE_HOME":
        from jobctl.errors import UsageError

        raise UsageError(
            f"no home folder for the default database and logs ({_why_no_home()}):"
            " set --db, $JOBCTL_DB or $XDG_STATE_HOME"
        )
    return os.path.join("~", fallback)


def _check_home_owner(home: str) -> None:
    """Root's state folder is never put in a home another user owns (a sudo that keeps
    $HOME, `HOME=/home/alice jobctl ...`): root would make `~/.local`, `~/.local/state` and
    the rest there as its own, 0700, and lock that user out of their own `~/.local` (pip
    --user, ~/.local/bin) and of jobctl. A usage error, as having no home at all is."""
    if os.geteuid() != 0:
        return
    try:
        owner = os.stat(home).st_uid
    except OSError:
        return  # no such folder: nobody's to damage, and the database's open says what fails
    if owner == 0:
        return
    from jobctl.errors import UsageError

    raise UsageError(
        f"$HOME ({home}) is owned by {user_name(owner)}, not by root: root makes no folder"
        " for the default database and logs in another user's home; set --db, $JOBCTL_DB or"
        " $XDG_STATE_HOME (sudo -H gives root its own $HOME)"
    )


def _why_no_home() -> str:
    """Why `~` did not expand, for the error that says so."""
    home = os.environ.get("HOME")
    if home is not None:
        return f"$HOME is {home!r}, not an absolute path"
    uid = os.getuid()
    if login_name(uid) is None:
        return f"$HOME unset, uid {uid} has no passwd entry"
    return f"$HOME unset, and the passwd entry of {user_name(uid)} names no home folder"


def login_name(uid: int) -> str | None:
    """The name of a uid, None for one without a passwd entry."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def user_name(uid: int) -> str:
    """`name (uid N)`, or `uid N` for a uid without a name."""
    name = login_name(uid)
    return f"uid {uid}" if name is None else f"{name} (uid {uid})"


def not_private(
    info: os.stat_result, owner: int | None = None, *, where: int | str | None = None
) -> str | None:
    """Why a file or folder is not private to this user, as the end of a sentence naming it:
    owned by someone other than the effective uid (or `owner`, when given), or writable by
    group or others, by its mode or by a POSIX ACL. None when it is private. `where` (its
    descriptor, or the path `info` was read from) is where the ACL is read: without it,
    the mode alone is looked at."""
    euid = os.geteuid()
    if info.st_uid != euid and info.st_uid != owner:
        return f"is owned by {user_name(info.st_uid)}, not by {user_name(euid)}"
    mode = stat.S_IMODE(info.st_mode)
    if info.st_mode & 0o002 or (info.st_mode & 0o020 and not _own_group(info)):
        return f"is writable by group or others (mode {mode:04o}, owner {user_name(info.st_uid)})"
    # With an ACL, the group bits are its mask, which caps every entry but the owner's and
    # other's: only a mask that grants write can hide a grant to another user.
    if info.st_mode & 0o020 and where is not None:
        grantee = _acl_write_grantee(where, info)
        if grantee is not None:
            return (
                f"is writable by {grantee} through an ACL (mode {mode:04o}, owner"
                f" {user_name(info.st_uid)})"
            )
    return None


_ACL_XATTR = "system.posix_acl_access"
_ACL_USER, _ACL_GROUP = 0x02, 0x08  # named entries (linux/posix_acl.h), the others' tags
_ACL_WRITE = 0x02


def _acl_write_grantee(where: int | str, info: os.stat_result) -> str | None:
    """Who other than the owner (and its private group, which _own_group has accepted) a
    POSIX access ACL lets write, named for a message; None for no such entry, or no ACL
    (none set, or a file system without xattrs). The xattr is a little-endian version
    (2), then entries of tag (u16), permissions (u16) and id (u32)."""
    import struct

    try:
        raw = os.getxattr(where, _ACL_XATTR)
    except OSError:
        return None  # ENODATA, ENOTSUP; any other failure, the open that follows says
    for offset in range(4, len(raw) - 7, 8):
        tag, permissions, grantee = struct.unpack_from("<HHI", raw, offset)
        if not permissions & _ACL_WRITE:
            continue
        if tag == _ACL_USER and grantee != info.st_uid:
            return user_name(grantee)
        if tag == _ACL_GROUP and grantee != info.st_gid:
            return f"group {_group_name(grantee)}"
    return None


def _group_name(gid: int) -> str:
    """`name (gid N)`, or `gid N` for a gid without a name."""
    import grp

    try:
        return f"{grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


def _own_group(info: os.stat_result) -> bool:
    """Whether a file's group is its owner's private group (the group of the owner's name,
    with no other member), as a umask of 002 with such groups (Debian's, Fedora's) leaves
    what a user makes group-writable: writable by that group is writable by the owner
    alone, when no other account has it as its primary group. OpenSSH's StrictModes
    accepts the same, but for that last check."""
    import grp
    import pwd

    try:
        group = grp.getgrgid(info.st_gid)
        owner = pwd.getpwuid(info.st_uid)
    except KeyError:
        return False
    return (
        group.gr_gid == owner.pw_gid
        and group.gr_name == owner.pw_name
        and set(group.gr_mem) <= {owner.pw_name}
        # A member by its primary group is listed in no group entry: `useradd -g alice
        # eve`, or the system accounts some distributions give gid 0.
        and not any(p.pw_gid == group.gr_gid and p.pw_uid != owner.pw_uid for p in pwd.getpwall())
    )


def open_private_dir(
    path: str,
    *,
    dir_fd: int | None = None,
    what: str = "folder",
    shown: str | None = None,
    mode: int = 0o700,
) -> int:
    """Open a folder (made with `mode`, 0700 unless a shared log folder's group may read it,
    with any missing parents 0700, if missing) without following a link, and check it
    through the descriptor: a real folder of this user's that group and others cannot write
    to. Returns the descriptor (close-on-exec); PermissionError, saying why, for a folder
    that is not private. `path` is relative to `dir_fd` when given; `shown` is the path
    messages name."""
    shown = shown or path
    try:
        fd = _open_dir(path, dir_fd, what, shown)
        made = False
    except FileNotFoundError:
        if dir_fd is None:
            _make_parents(Path(path), what)
        try:
            os.mkdir(path, mode, dir_fd=dir_fd)
            made = True
        except FileExistsError:  # made by another process meanwhile: checked below
            made = False
        fd = _open_dir(path, dir_fd, what, shown)
    try:
        info = os.fstat(fd)
        problem = not_private(info, where=fd)
        if problem:
            raise PermissionError(f"{what} {shown} {problem}")
        if made and stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)  # the umask may have taken bits away
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_dir(path: Path, what: str = "folder") -> None:
    """Make `path` and any missing parents with mode 0700 (Path.mkdir ignores the mode for
    parents). A folder found there already must be private (see `open_private_dir`): else
    PermissionError, saying why. The folders above one found are not checked."""
    os.close(open_private_dir(str(path), what=what))


def _open_dir(path: str, dir_fd: int | None, what: str, shown: str) -> int:
    try:
        return os.open(path, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        try:  # (Linux says ENOTDIR for a link with O_DIRECTORY, ELOOP without)
            info = os.lstat(path, dir_fd=dir_fd)
        except OSError:
            raise exc from None  # a file above it is not a folder
        if stat.S_ISLNK(info.st_mode):
            raise NotAFolder(f"{what} {shown} is a symbolic link") from None
        raise NotAFolder(f"{what} {shown} is not a folder") from None


class NotAFolder(PermissionError):
    """A folder jobctl would use is a link or a file: refused, as it may have been planted
    (its fix is a folder there, where that of a folder open to others is chown or chmod)."""


def _make_parents(path: Path, what: str) -> None:
    """The missing folders above `path`, made 0700. One that another process made meanwhile
    must be private, or another user could move what is made inside it."""
    missing: list[Path] = []
    current = path.parent
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            info = os.lstat(directory)
            problem = (
                "is a symbolic link"
                if stat.S_ISLNK(info.st_mode)
                else not_private(info, where=str(directory))
            )
            if problem:
                raise PermissionError(f"{what} {directory} {problem}") from None
            continue
        os.chmod(directory, 0o700)  # the umask may have taken bits away; never adds any


@functools.lru_cache(maxsize=256)
def directory_problem(path: str) -> str | None:
    """Why an absolute `path` is no directory a command can be started in, or None. Read
    once a call for each path: a batch of a hundred thousand lines names one or two."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return "no such directory"
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    if not stat.S_ISDIR(found.st_mode):
        return "not a directory"
    # A folder this user may see but not enter (another user's 0700 home, the folder of an
    # admin who ran `sudo -u svc jobctl ...`): every attempt would die at its start.
    if not os.access(path, os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        mode = stat.S_IMODE(found.st_mode)
        return (
            f"{user_name(os.geteuid())} cannot enter it (mode {mode:04o}, owner"
            f" {user_name(found.st_uid)}), so no command can start there"
        )
    return None
