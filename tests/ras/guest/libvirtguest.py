# SPDX-License-Identifier: GPL-2.0-or-later
"""A guest run by Debian's libvirt, as operators run QEMU: a session
libvirtd of an unprivileged user (root's session URI is the system one,
which wants cgroups, namespaces and a system daemon), a domain defined in
XML with our QEMU as its emulator and ras=on passed through, QMP only
through libvirt (virsh qemu-monitor-command), and libvirt's own
memory-failure events (virsh event) as a management client sees them."""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from xml.sax.saxutils import escape

import rasguest

USER = 'nobody'
DOMAIN = 'ras-libvirt'

XML = """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%(name)s</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='%(arch)s' machine='%(machine)s'>hvm</type>%(loader)s
    <kernel>%(kernel)s</kernel>
    <initrd>%(initrd)s</initrd>
    <cmdline>console=%(console_dev)s panic=-1</cmdline>
  </os>
  <features>
    <acpi/>%(features)s
  </features>
  <cpu mode='maximum'/>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>%(emulator)s</emulator>
    <serial type='file'>
      <source path='%(console)s' append='on'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-machine'/>
    <qemu:arg value='ras=on'/>%(args)s
  </qemu:commandline>
</domain>
"""

# What differs between the architectures: arm64 boots EDK2 from flash
# (libvirt takes ACPI on arm64 only with UEFI), x86 SeaBIOS from the
# guest images' bios directory, where the copied QEMU cannot find its own
ARCH = {
    'arm64': dict(arch='aarch64', machine='virt', binary='qemu-system-aarch64',
                  console_dev='ttyAMA0', features="\n    <gic version='3'/>",
                  loader="\n    <loader readonly='yes' type='pflash' "
                         "stateless='yes'>%(firmware)s</loader>",
                  args=''),
    'x86': dict(arch='x86_64', machine='q35', binary='qemu-system-x86_64',
                console_dev='ttyS0', features='', loader='',
                args="\n    <qemu:arg value='-L'/>"
                     "\n    <qemu:arg value='%(bios)s'/>"),
}


class LibvirtGuest(rasguest.Guest):
    """A guest of a session libvirtd: what rasguest.Guest offers of its
    console, QMP through virsh (qmp()), and what libvirt's event stream
    says (libvirt_events())."""

    def __init__(self, objdir, arch, images, initrd, work):
        self.work = work
        self.dir = os.path.join(work, 'libvirt')
        os.makedirs(os.path.join(self.dir, 'run'))
        a = ARCH[arch]
        # Everything the user's libvirtd and QEMU open lives here: the
        # build directory may be where that user cannot look
        files = {}
        for name, src in (('emulator', os.path.join(objdir, a['binary'])),
                          ('kernel', os.path.join(images, 'vmlinuz')),
                          ('initrd', initrd)):
            files[name] = os.path.join(self.dir, os.path.basename(src))
            shutil.copy(src, files[name])
        if arch == 'arm64':
            files['firmware'] = os.path.join(self.dir, 'QEMU_EFI.fd')
            shutil.copy(os.path.join(images, 'QEMU_EFI.fd'),
                        files['firmware'])
            # A pflash device: the virt machine's flash is 64 MiB
            os.truncate(files['firmware'], 64 << 20)
        else:
            files['bios'] = os.path.join(self.dir, 'bios')
            shutil.copytree(os.path.join(images, 'bios'), files['bios'])
        self.log = files['console'] = os.path.join(self.dir, 'console.log')
        self.env = {'PATH': '/usr/bin:/usr/sbin:/bin:/sbin',
                    'HOME': self.dir,
                    'XDG_RUNTIME_DIR': os.path.join(self.dir, 'run'),
                    'XDG_CONFIG_HOME': os.path.join(self.dir, 'config'),
                    'XDG_CACHE_HOME': os.path.join(self.dir, 'cache'),
                    'LC_ALL': 'C'}
        pw = pwd.getpwnam(USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.chmod(work, 0o755)
        for root, dirs, names in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + names]:
                os.chown(n, self.uid, self.gid)
        os.chmod(os.path.join(self.dir, 'run'), 0o700)
        fields = {k: escape(v, {"'": '&apos;'}) for k, v in files.items()}
        fields.update({k: v % fields for k, v in a.items()}, name=DOMAIN)
        with open(os.path.join(self.dir, 'domain.xml'), 'w') as f:
            f.write(XML % fields)
        self.events_out = os.path.join(self.dir, 'events.txt')
        self.listener = None
        self.alive_at = 0
        try:
            self.create()
        except Exception:
            self.stop()
            raise

    def _as_user(self):
        os.setgroups([])
        os.setgid(self.gid)
        os.setuid(self.uid)

    def virsh(self, *args, check=True):
        """virsh's output for @args on the session connection"""
        p = subprocess.run(['virsh', '-c', 'qemu:///session'] + list(args),
                           env=self.env, preexec_fn=self._as_user,
                           cwd=self.dir, capture_output=True, text=True,
                           timeout=120)
        if check and p.returncode:
            raise RuntimeError('virsh %s: %s' % (' '.join(args),
                                                 p.stderr.strip()))
        return p.stdout

    def create(self):
        # The listener first: its connection spawns the session daemon.
        # It may register after the domain's first lifecycle events; the
        # memory-failure ones come much later.
        self.listener = subprocess.Popen(
            ['virsh', '-c', 'qemu:///session', 'event', '--all', '--loop',
             '--timestamp'], env=self.env, preexec_fn=self._as_user,
            cwd=self.dir, stdout=open(self.events_out, 'w'),
            stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                self.virsh('uri')
                break
            except RuntimeError:
                if time.time() > deadline or self.listener.poll() is not None:
                    raise RuntimeError('the session libvirtd did not start: '
                                       '%s' % self.libvirt_events())
                time.sleep(0.2)
        self.virsh('create', os.path.join(self.dir, 'domain.xml'))

    def qmp(self, command, arguments=None):
        """A QMP command through libvirt: its JSON reply, as text"""
        cmd = {'execute': command}
        if arguments:
            cmd['arguments'] = arguments
        return json.loads(self.virsh('qemu-monitor-command', DOMAIN,
                                     json.dumps(cmd)))

    def libvirt_events(self):
        """What virsh event printed so far"""
        with open(self.events_out, errors='replace') as f:
            return f.read()

    def wait_libvirt_event(self, pattern, timeout):
        """The first match of @pattern in what virsh event printed, or
        None on timeout"""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.libvirt_events(), re.M)
            if m:
                return m
            time.sleep(0.2)
        return None

    def alive(self):
        # asked every 2 s at most: each virsh takes CPU from the guest
        if time.time() - self.alive_at < 2:
            return True
        self.alive_at = time.time()
        return self.virsh('domstate', DOMAIN, check=False).strip() in \
            ('running', 'paused')

    def domain_log(self):
        """libvirt's log of the domain: QEMU's command lines and stderr"""
        try:
            with open(os.path.join(self.dir, 'cache', 'libvirt', 'qemu',
                                   'log', DOMAIN + '.log'),
                      errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        """The domain destroyed, the listener and the session daemons
        (libvirtd, virtlogd) gone"""
        self.virsh('destroy', DOMAIN, check=False)
        if self.listener:
            self.listener.kill()
            self.listener.wait()
        for daemon in ('libvirtd', 'virtlogd'):
            pidfile = os.path.join(self.dir, 'run', 'libvirt',
                                   daemon + '.pid')
            try:
                with open(pidfile) as f:
                    pid = int(f.read())
                with open('/proc/%d/comm' % pid) as f:
                    if f.read().strip() != daemon:
                        continue
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                continue
            deadline = time.time() + 10
            while os.path.exists('/proc/%d' % pid) and \
                    time.time() < deadline:
                time.sleep(0.1)


EVENT = (r"^\S+ \S+: event 'memory-failure' for domain '%s':\n"
         r"recipient: (\S+)\naction: (\S+)\nflags:\n"
         r"\taction required: (\d)\n\trecursive: (\d)$" % DOMAIN)


def saved_and_restored(guest, pa, say):
    """virsh save, then virsh restore, paused: the new QEMU must know the
    page at @pa is poisoned before the guest runs again"""
    state = os.path.join(guest.dir, 'state.sav')
    t = time.time()
    guest.virsh('save', DOMAIN, state)
    saved = time.time() - t
    t = time.time()
    guest.virsh('restore', state, '--paused')
    restored = time.time() - t
    info = guest.virsh('qemu-monitor-command', '--hmp', DOMAIN,
                       'info memory-failures')
    say(info)
    guest.virsh('resume', DOMAIN)
    known = re.search(r'^0x0*%x size 0x1000 guest' % pa, info, re.M)
    print('virsh save (%.1f s) and restore (%.1f s): the restored QEMU '
          'knows page 0x%x is poisoned before the guest runs: %s'
          % (saved, restored, pa, 'yes' if known else 'NO'))
    return bool(known)


def victim_pa(guest, n):
    """The page of the guest's victim number @n (from 0), once it runs"""
    m = guest.wait_for(r'(?:^VICTIM pid=\d+ va=\S+ pa=0x[0-9a-f]+\n'
                       r'(?:.*\n)*?){%d}' % (n + 1), rasguest.BOOT_TIMEOUT)
    pas = m and re.findall(r'^VICTIM pid=\d+ va=\S+ pa=0x([0-9a-f]+)$',
                           m.group(0), re.M)
    if not pas or len(pas) <= n:
        print('FAIL: the guest did not start victim %d' % (n + 1))
        print(guest.console()[-2000:])
        return None
    return int(pas[n], 16)


def injected(guest, pa, ar, say):
    """An error injected at @pa (@ar: action required, by HMP; else action
    optional, by QMP), both through libvirt; whether libvirt's event for
    it came, as expected"""
    # Events of earlier errors (the first victim may touch its page before
    # the guest has acted on its report: an action-required event) have
    # come by now: the next victim only starts once that one is dead
    time.sleep(1)
    before = len(re.findall(EVENT, guest.libvirt_events(), re.M))
    if ar:
        rsp = guest.virsh('qemu-monitor-command', '--hmp', DOMAIN,
                          'inject_host_memory_failure -a 0x%x' % pa)
        refused = rsp.strip()
    else:
        rsp = guest.qmp('inject-host-memory-failure',
                        {'kind': 'action-optional', 'address': pa})
        refused = rsp.get('error')
    say('-> %s at 0x%x: %s' % ('HMP AR' if ar else 'QMP AO', pa, rsp))
    if refused:
        print('FAIL: the injection was refused: %s' % refused)
        return False
    guest.wait_libvirt_event(r'(?:%s\n(?:.*\n)*?){%d}' % (EVENT, before + 1),
                             60)
    evs = re.findall(EVENT, guest.libvirt_events(), re.M)[before:]
    ev = evs[0] if evs else None
    want = ('guest', 'inject', '1' if ar else '0')
    print('libvirt memory-failure event for the %s error at 0x%x: %s: %s'
          % ('action-required' if ar else 'action-optional', pa,
             'recipient %s, action %s, action required %s, recursive %s'
             % ev if ev else 'NONE',
             'as expected' if ev and ev[:3] == want else
             'NOT recipient %s, action %s, action required %s' % want))
    return bool(ev and ev[:3] == want)


def run_libvirt(guest, say):
    """The checks of check_libvirt() on a running @guest"""
    say(guest.virsh('dumpxml', DOMAIN))
    pas = []
    for n, ar in enumerate((False, True)):
        if n == 1 and not saved_and_restored(guest, pas[0], say):
            return False
        pa = victim_pa(guest, n)
        if pa is None or not injected(guest, pa, ar, say):
            return False
        pas.append(pa)
    info = guest.virsh('qemu-monitor-command', '--hmp', DOMAIN,
                       'info memory-failures')
    say(info)
    listed = all(re.search(r'^0x0*%x size 0x1000 guest' % pa, info, re.M)
                 for pa in pas)
    print('HMP info memory-failures through libvirt lists both pages: '
          '%s' % ('yes' if listed else 'NO:\n' + info))
    # The guest reads a record after the event is sent: give it 10 s
    deadline = time.time() + 10
    while True:
        sources = guest.qmp('query-ghes')['return']['sources']
        acked = all(s.get('acknowledged') is True and s['busy'] == 0
                    for s in sources)
        if acked or time.time() > deadline:
            break
        time.sleep(0.1)
    say('query-ghes: %s' % json.dumps(sources))
    print('every GHES record acknowledged by the guest: %s'
          % ('yes' if acked else 'NO: %s' % json.dumps(sources)))
    m = guest.wait_for(r'^GUEST DONE', 120)
    done = m and m.group(0).startswith('GUEST DONE')
    text = guest.console()
    panicked = re.search(r'Kernel panic', text)
    if not done or panicked:
        print('the guest %s' % ('panicked' if panicked else
                                'did not finish its script (no GUEST DONE)'))
    for line in text.splitlines():
        if re.search(r'Hardware Error|Memory failure|VICTIM|mce:|'
                     r'Kernel panic', line):
            say('guest| ' + line)
    # Linux prints 2 records in 5 s: the victim's touch of the first
    # page before the guest acted on it makes a second record of it,
    # so the one of the second page may go unprinted; its
    # memory_failure() says the guest read it
    decoded = [pa for pa in pas
               if re.search(r'physical_address: 0x0*%x\b|ADDR 0*%x\b'
                            % (pa, pa), text)]
    handled = [pa for pa in pas
               if re.search(r'Memory failure: 0x0*%x: recovery action'
                            % (pa >> 12), text)]
    # each victim's SIGBUS line follows its start line, and it exited of
    # its own (the line init prints is its own: /victim.out removed first)
    killed = [v for v in re.split(r'^VICTIM pid=', text, flags=re.M)[1:]
              if re.search(r'^VICTIM SIGBUS code=BUS_MCEERR_A[RO] ', v,
                           re.M) and re.search(r'^VICTIM EXIT 0$', v, re.M)]
    print('%s; records decoded: %d, errors recovered from: %d of 2, '
          'victims killed by SIGBUS BUS_MCEERR_*: %d of 2'
          % (guest.kernel_line(), len(decoded), len(handled),
             len(killed)))
    # The guest powered itself off after its script (no panic): libvirt
    # saw the domain through to its end
    stopped = guest.wait_libvirt_event(r"event 'lifecycle' for domain "
                                       r"'%s': Stopped Shutdown" % DOMAIN,
                                       30)
    print('libvirt saw the domain shut down: %s'
          % ('yes' if stopped else 'NO'))
    return bool(listed and acked and done and not panicked and decoded and
                len(handled) == 2 and len(killed) == 2 and stopped)


def check_libvirt(objdir, arch, script, say):
    """arm64-libvirt, x86-libvirt: see guest-test.  @script runs the
    victim twice."""
    if not shutil.which('virsh') or not shutil.which('libvirtd'):
        print('FAIL: libvirt is not installed (scripts/install-deps.sh '
              'installs Debian\'s)')
        return False
    if os.getuid():
        print('FAIL: the libvirt tests run as root (they run libvirt as '
              '%s)' % USER)
        return False
    images = rasguest.fetch_images(arch)
    work = rasguest.workdir()
    initrd = rasguest.build_initramfs(images, work, arch,
                                      {'victim': 'victim.c'}, script,
                                      poll_every_second=False)
    ok = False
    guest = None
    try:
        guest = LibvirtGuest(objdir, arch, images, initrd, work)
        ok = run_libvirt(guest, say)
    finally:
        if guest:
            guest.stop()
            if not ok:
                print('libvirt\'s log of the domain, its end:')
                print(guest.domain_log()[-3000:])
        if ok and not os.environ.get('RAS_KEEP'):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print('work directory kept: %s' % work)
    print('PASS' if ok else 'FAIL')
    return ok
