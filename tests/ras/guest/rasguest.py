# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot a Linux guest under TCG with a QMP socket, for the guest tests and
the storm benchmark: guest images, initramfs, QEMU command line, and QMP
through QEMU's own Python library (qemu.qmp, from the QEMU tree)."""

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT_TIMEOUT = 300


def cache_dir():
    base = os.environ.get('XDG_CACHE_HOME',
                          os.path.join(os.path.expanduser('~'), '.cache'))
    return os.path.join(base, 'qemu-guest-ras')


def guest_kernel():
    """The guest kernel series: RAS_GUEST_KERNEL, 6.1 (Debian 12's) or
    6.12 (bookworm-backports)."""
    return os.environ.get('RAS_GUEST_KERNEL', '6.1')


def fetch_images(arch):
    """Kernel, busybox and firmware for @arch ('arm64' or 'x86')."""
    return subprocess.run([os.path.join(HERE, 'fetch-images'), cache_dir(),
                           {'x86': 'amd64'}.get(arch, arch), guest_kernel()],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def fetch_rasdaemon(arch):
    """Debian's rasdaemon and sqlite3 with their libraries, for @arch: a
    tree to put in the initramfs."""
    return subprocess.run([os.path.join(HERE, 'fetch-rasdaemon'),
                           cache_dir(), {'x86': 'amd64'}.get(arch, arch)],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def config_value(path, name):
    """NAME=value in the make or shell fragment @path, or None"""
    try:
        with open(path) as f:
            m = re.search(r'^%s=(.*)$' % name, f.read(), re.M)
    except OSError:
        return None
    return m.group(1).strip() if m else None


def qemu_python_dir(objdir):
    """The python/ directory of a QEMU tree, which holds QEMU's QMP
    library: the one @objdir was configured from (QEMU's config-host.mak),
    the grafted tree of the build directory @objdir is in (our
    ./configure's config.mk: build/qemu, build/asan, build/snap), this
    checkout's default build, or the grafted tree this file is in."""
    top = os.path.join(HERE, '..', '..', '..')
    trees = [config_value(os.path.join(objdir, 'config-host.mak'),
                          'SRC_PATH'),
             config_value(os.path.join(objdir, '..', 'config.mk'), 'SRCDIR'),
             config_value(os.path.join(top, 'build', 'config.mk'), 'SRCDIR'),
             top]
    for tree in trees:
        if tree and os.path.exists(os.path.join(tree, 'python', 'qemu', 'qmp',
                                                'legacy.py')):
            return os.path.abspath(os.path.join(tree, 'python'))
    raise RuntimeError('no QEMU tree with python/qemu/qmp found for %s: '
                       'run ./configure' % objdir)


def qmp_connect(objdir, path):
    """A QMP connection (qemu.qmp.legacy.QEMUMonitorProtocol, capabilities
    negotiated) to the socket QEMU is about to open at @path."""
    pydir = qemu_python_dir(objdir)
    if pydir not in sys.path:
        sys.path.insert(0, pydir)
    from qemu.qmp.legacy import QEMUMonitorProtocol
    # failures surface as exceptions; the library's log lines would only
    # repeat them (or report the retries below) on standard error
    log = logging.getLogger('qemu.qmp')
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    qmp = QEMUMonitorProtocol(path)
    deadline = time.time() + 60
    while True:
        try:
            qmp.connect()
            return qmp
        except Exception:
            if time.time() > deadline:
                raise RuntimeError('QEMU did not open its QMP socket')
            time.sleep(0.05)


INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
%s# Pages a test program locked stay where it reported them
echo 0 >/proc/sys/vm/compact_unevictable_allowed
echo "GUEST READY $(uname -r)"
%s
echo "GUEST DONE"
poweroff -f
"""


# AMD guests take errors that were not consumed from the banks they poll,
# every 5 minutes at first (Linux's default): most tests poll every second
POLL_EVERY_SECOND = """mc=/sys/devices/system/machinecheck/machinecheck0/check_interval
[ -w $mc ] && echo 1 >$mc
"""


def build_initramfs(images, work, arch, programs, script,
                    poll_every_second=True, trees=()):
    """An initramfs with busybox, the C @programs (name -> source file in
    this directory, built static), the directory @trees copied in whole,
    and an init that runs @script; without @poll_every_second the guest
    keeps Linux's machine-check poll period."""
    cc = {'arm64': 'aarch64-linux-gnu-gcc', 'x86': 'gcc'}[arch]
    root = os.path.join(work, 'root')
    for d in ('bin', 'dev', 'proc', 'sys', 'tmp'):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for name, src in programs.items():
        subprocess.run([cc, '-static', '-O2', '-o', os.path.join(root, name),
                        os.path.join(HERE, src)], check=True)
    shutil.copy(os.path.join(images, 'busybox'),
                os.path.join(root, 'bin', 'busybox'))
    for tree in trees:
        shutil.copytree(tree, root, symlinks=True, dirs_exist_ok=True)
    with open(os.path.join(root, 'init'), 'w') as f:
        f.write(INIT % (POLL_EVERY_SECOND if poll_every_second else '',
                        script))
    os.chmod(os.path.join(root, 'init'), 0o755)
    out = os.path.join(work, 'initramfs.cpio')
    files = subprocess.run('cd %s && find . | LC_ALL=C sort' % root,
                           shell=True, check=True, capture_output=True,
                           text=True).stdout
    with open(out, 'wb') as f:
        subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet'], cwd=root,
                       input=files.encode(), stdout=f, check=True)
    return out


def qemu_cmd(binary_dir, arch, images, initrd, work, ras=None, smp=2,
             mem='1G', append='', console_input=False):
    """The command line of a TCG guest whose console goes to
    work/console.log and whose QMP socket is work/qmp.sock; @ras: the
    machine's ras=on (default: on arm64, where it is how errors reach the
    guest; off on x86, whose default is machine checks).  With
    @console_input, what is written to the socket work/console.sock
    reaches the guest's console (Guest.type())."""
    log = os.path.join(work, 'console.log')
    if console_input:
        serial = ['-chardev', 'socket,id=con,path=%s,server=on,wait=off,'
                  'logfile=%s' % (os.path.join(work, 'console.sock'), log),
                  '-serial', 'chardev:con']
    else:
        serial = ['-serial', 'file:' + log]
    common = ['-smp', str(smp), '-m', mem, '-nic', 'none',
              '-display', 'none',
              '-kernel', os.path.join(images, 'vmlinuz'), '-initrd', initrd]
    common += serial + [
        '-no-reboot', '-no-shutdown',
        '-qmp', 'unix:%s,server=on,wait=off' % os.path.join(work, 'qmp.sock'),
        '-name', 'ras-guest,debug-threads=on']
    if ras is None:
        ras = arch == 'arm64'
    if arch == 'arm64':
        return [os.path.join(binary_dir, 'qemu-system-aarch64'),
                '-machine', 'virt,gic-version=3' + (',ras=on' if ras else ''),
                '-cpu', 'max',
                '-bios', os.path.join(images, 'QEMU_EFI.fd'),
                '-append', ('console=ttyAMA0 panic=-1 ' + append).strip()
                ] + common
    # TCG's max CPU is AMD-like without SUCCOR, so a Linux guest cannot
    # recover from its machine checks; Intel's software error recovery
    # (MCG_SER_P) it can.
    return [os.path.join(binary_dir, 'qemu-system-x86_64'),
            '-machine', 'q35' + (',ras=on' if ras else ''),
            '-cpu', 'max,vendor=GenuineIntel',
            '-vga', 'none', '-L', os.path.join(images, 'bios'),
            '-append', ('console=ttyS0 panic=-1 ' + append).strip()] + common


class Guest:
    """A running guest: console log, QMP (@qmp, QEMU's QEMUMonitorProtocol;
    its events are taken through events() and wait_event()), and its work
    directory."""

    def __init__(self, cmd, work, env=None):
        self.work = work
        self.log = os.path.join(work, 'console.log')
        open(self.log, 'w').close()
        objdir = os.path.dirname(cmd[0])
        # RAS_QEMU_WRAPPER: e.g. "gdb -batch -ex run -ex bt --args"
        cmd = os.environ.get('RAS_QEMU_WRAPPER', '').split() + cmd
        self.proc = subprocess.Popen(
            cmd, stdout=open(os.path.join(work, 'qemu.out'), 'w'), env=env,
            stderr=open(os.path.join(work, 'qemu.err'), 'w'))
        self._events = []
        self.qmp = qmp_connect(objdir, os.path.join(work, 'qmp.sock'))

    def events(self):
        """Every QMP event received that wait_event() has not taken, oldest
        first"""
        self._events += self.qmp.get_events()
        return self._events

    def wait_event(self, name, timeout):
        """Take the first event @name received, waiting up to @timeout
        seconds for it to come; None if it did not.  QEMU gone, and with
        it what it had sent: RuntimeError."""
        deadline = time.time() + timeout
        while True:
            for ev in self.events():
                if ev['event'] == name:
                    self._events.remove(ev)
                    return ev
            left = deadline - time.time()
            if left <= 0:
                return None
            gone = self.proc.poll() is not None
            try:
                # a float (True or an int would wait for ever), a second
                # at most: the library does not say when QEMU hung up
                self._events.append(
                    self.qmp.pull_event(wait=float(min(left, 1))))
            except asyncio.TimeoutError:
                if gone:
                    raise RuntimeError('QMP connection closed') from None

    def console(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def type(self, text):
        """Write @text to the guest's console (qemu_cmd's console_input)"""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(os.path.join(self.work, 'console.sock'))
            s.sendall(text.encode())
            # the chardev reads it before the connection goes
            time.sleep(0.5)

    def kernel(self):
        """The guest kernel's release, once it has booted"""
        m = re.search(r'^GUEST READY (\S+)', self.console(), re.M)
        return m.group(1) if m else None

    def kernel_line(self):
        """What a test prints of the kernel it ran on"""
        return 'guest kernel %s' % (self.kernel() or
                                    'unknown (it did not say GUEST READY)')

    def wait_for(self, pattern, timeout):
        """The first match of @pattern in the console log, or of
        "Kernel panic" if the guest panicked first; None on timeout or
        QEMU exit."""
        deadline = time.time() + timeout
        rx = re.compile(pattern + r'|Kernel panic', re.M)
        last = False
        while time.time() < deadline:
            # Whole lines only: the guest may be half way through one
            # ("pa=0x7" of "pa=0x7c110000" was once taken for an address)
            text = self.console()
            m = rx.search(text[:text.rfind('\n') + 1])
            if m or last:
                return m
            # Gone: what it wrote before it went is read once more
            last = not self.alive()
            if not last:
                time.sleep(0.2)
        text = self.console()
        return rx.search(text[:text.rfind('\n') + 1])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        try:
            self.qmp.close()
        except Exception:       # what ended the session: QEMU is gone
            pass


def workdir():
    return tempfile.mkdtemp(prefix='ras-guest-')
