# SPDX-License-Identifier: GPL-2.0-or-later
"""Error storms against a running Linux guest: N distinct-page memory
errors injected as fast as QMP takes them, counted by the guest kernel.

Used by the storm benchmark (tests/ras/bench/storm) and by the burst
guest tests.  The guest runs storm.c, which reports its pages' physical
addresses and the kernel's own count of pages it took offline
(HardwareCorrupted), so "handled" never depends on log lines."""

import base64
import datetime
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import rasguest

# Trace events that mark the moment QEMU notified the guest, by target
# (upstream QEMU, also benchmarked, has none of them: it warns, no more)
TRACES = {'arm64': ['ghes_record_written', 'arm_mf_sea'],
          'x86': ['x86_mf_delivered', 'ghes_record_written']}

CPER_SEC_PLATFORM_MEM = bytes.fromhex('1411bca5646fde4eb8633e83ed7c83b1')


def ghes_mem_error_block(pa):
    """A Generic Error Status Block holding one recoverable memory error
    section at @pa (ACPI 18.3.2.7, UEFI N.2.5), for inject-ghes-v2-error."""
    section = struct.pack('<QQQQ', 1 << 1, 0, pa, 0) + bytes(48)
    entry = (CPER_SEC_PLATFORM_MEM +
             struct.pack('<IHBBI', 0, 0x300, 0, 0, len(section)) +
             bytes(16 + 20 + 8))
    data = entry + section
    head = struct.pack('<IIIII', 1 | (1 << 4), 0, 0, len(data), 0)
    return head + data


def parse_trace_time(stamp):
    stamp = stamp.rstrip('Z')
    fmt = '%Y-%m-%dT%H:%M:%S.%f' if '.' in stamp else '%Y-%m-%dT%H:%M:%S'
    return datetime.datetime.strptime(stamp, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def notifications(trace_file):
    """(time, kind, gpa or None) for every guest notification traced."""
    out = []
    if not os.path.exists(trace_file):
        return out
    rx = re.compile(r'^(\S+) (ghes_record_written source (\d+)|'
                    r'(?:x86_mf_delivered cpu|arm_mf_sea cpu) \d+ gpa '
                    r'0x([0-9a-f]+))')
    with open(trace_file, errors='replace') as f:
        for line in f:
            m = rx.match(line)
            if not m:
                continue
            t = parse_trace_time(m.group(1))
            if m.group(3) is not None:
                out.append((t, 'ghes%s' % m.group(3), None))
            elif int(m.group(4), 16):     # 0: an x86 broadcast target
                out.append((t, 'gpa', int(m.group(4), 16)))
    return out


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Console:
    """Reads the console log incrementally."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.buf = ''

    def read_new(self):
        with open(self.path, 'rb') as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        text = (self.buf + data.decode(errors='replace'))
        lines = text.split('\n')
        self.buf = lines.pop()
        return lines


def storm_pages(console, guest, timeout):
    """The page list storm.c prints, and the HardwareCorrupted figure
    before the storm."""
    pages = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in console.read_new():
            m = re.match(r'P ([0-9a-f]+) (\d+)', line)
            if m:
                pa = int(m.group(1), 16)
                pages += [pa + i * 4096 for i in range(int(m.group(2)))]
                continue
            m = re.match(r'STORM READY n=(\d+) hwc=(-?\d+)', line)
            if m:
                return pages, int(m.group(2))
            if 'Kernel panic' in line:
                raise RuntimeError('guest panic: ' + line)
        if guest.proc.poll() is not None:
            raise RuntimeError('QEMU exited')
        time.sleep(0.05)
    raise RuntimeError('the guest did not start the storm program')


def migrate_live(guest, cmd, say):
    """Move @guest (started with @cmd) to a new QEMU, live, over a
    socket: the destination Guest, once the migration has completed, and
    the reports that were waiting in the source's queues when it began."""
    work = rasguest.workdir()
    sock = os.path.join(work, 'stream')
    old = guest.work
    # the same initramfs, everything else (console, QMP, trace) its own
    os.symlink(os.path.join(old, 'initramfs.cpio'),
               os.path.join(work, 'initramfs.cpio'))
    cmd = [a.replace(old, work) for a in cmd] + ['-incoming', 'unix:' + sock]
    say('$ ' + ' '.join(cmd))
    dst = rasguest.Guest(cmd, work)
    queues = guest.qmp.cmd_raw('query-ras-queues').get('return', [])
    waiting = sum(q['waiting'] for q in queues)
    rsp = guest.qmp.cmd_raw('migrate', {'uri': 'unix:' + sock})
    status = 'refused: %s' % rsp['error']['desc'] if 'error' in rsp else ''
    deadline = time.time() + 300
    while not status and time.time() < deadline:
        s = guest.qmp.cmd_raw('query-migrate')['return'].get('status')
        if s in ('completed', 'failed', 'cancelled'):
            status = s
        time.sleep(0.1)
    return dst, waiting, status or 'timeout'


class PipelinedQmp:
    """A second QMP connection that sends commands without waiting for
    each reply (QEMU runs them in order), so that the client is not what
    limits a storm: a client waiting for each reply tops out near 550
    commands a second here."""

    def __init__(self, path, timeout=60):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        self.buf = b''
        self._reply()                           # the greeting
        self.send([{'execute': 'qmp_capabilities'}])
        self.replies(1)

    def _reply(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError('QMP connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def send(self, commands):
        self.sock.sendall(b''.join(json.dumps(c).encode() + b'\n'
                                   for c in commands))

    def replies(self, n):
        """The next @n command replies, in order (events skipped), each
        with the time it came"""
        out = []
        while len(out) < n:
            r = self._reply()
            if 'event' not in r:
                out.append((time.time(), r))
        return out

    def close(self):
        self.sock.close()


def run(binary_dir, arch, style, n, path='host', settle=30, log=None,
        keep=False, cpu=None, migrate=False, ras=None, busy=False):
    """One storm.  @style: 'ao' (free pages, action optional) or 'ar'
    (pages a process touches, action required); @path: 'host' (simulated
    host memory failures, inject-host-memory-failure, one command at a
    time), 'pipe' (the same, pipelined on a second QMP connection:
    the client is not the limit), 'count' (action optional: one command
    for each physically contiguous run of pages, its 'count' the run's
    length: neither client nor QMP is the limit), 'self' (no injection, the
    guest offlines the pages itself: its ceiling), 'raw' (complete
    GHES records, inject-ghes-v2-error, arm64 AO only) or 'mce' (HMP mce,
    x86 AO only: upstream's only machine check injection).  With
    @migrate, the VM migrates live to a second QEMU as soon as the errors
    are injected, and the guest's count is taken there.  @ras: the
    machine's ras=on (rasguest.qemu_cmd(); on x86, firmware-first
    reporting through GHES instead of machine checks).  @busy: a process
    spins on every guest CPU meanwhile (the guest never idles).  Returns
    a dict of figures; guest_handled counts pages the guest kernel took
    offline."""
    say = log or (lambda *a: None)
    images = rasguest.fetch_images(arch)
    work = rasguest.workdir()
    # firmware-first needs no bank poll: the guest keeps its defaults
    initrd = rasguest.build_initramfs(
        images, work, arch, {'storm': 'storm.c'},
        # spinners first, processes of their own: storm's later memory
        # must not be copies of pages they share with it
        ('n=$(grep -c ^processor /proc/cpuinfo); i=0\n'
         'while [ $i -lt $n ]; do (while :; do :; done) & i=$((i+1)); done\n'
         if busy else '') +
        '/storm %s %d\necho "STORM EXIT $?"'
        % ({'ao': 'self', 'ar': 'self-ar'}[style] if path == 'self'
           else style, n),
        poll_every_second=ras is not True)
    trace_file = os.path.join(work, 'trace.log')
    cmd = rasguest.qemu_cmd(binary_dir, arch, images, initrd, work,
                            mem='2G', ras=ras)
    cmd += ['-msg', 'timestamp=on', '-D', trace_file]
    for t in TRACES[arch]:
        cmd += ['-trace', 'enable=' + t]
    if cpu:
        cmd += ['-cpu', cpu]
    pipe_sock = os.path.join(work, 'qmp-storm.sock')
    if path == 'pipe':
        cmd += ['-qmp', 'unix:%s,server=on,wait=off' % pipe_sock]
    cmd += os.environ.get('RAS_QEMU_ARGS', '').split()
    say('$ ' + ' '.join(cmd))
    guest = rasguest.Guest(cmd, work)
    res = {'arch': arch, 'style': style, 'path': path, 'errors': n,
           'cpu': cpu, 'work': work}
    try:
        console = Console(guest.log)
        pages, hwc0 = storm_pages(console, guest, rasguest.BOOT_TIMEOUT)
        res['kernel'] = guest.kernel()
        if len(pages) != n:
            raise RuntimeError('storm program reported %d pages, not %d'
                               % (len(pages), n))
        qmp = guest.qmp
        sent = []
        refused = 0
        errors = {}
        pipe = PipelinedQmp(pipe_sock) if path == 'pipe' else None
        start = time.time()
        if path == 'count':
            # one command for each physically contiguous run of pages
            runs = []
            for pa in pages:
                if runs and runs[-1][0] + runs[-1][1] * 4096 == pa:
                    runs[-1][1] += 1
                else:
                    runs.append([pa, 1])
            for pa, count in runs:
                rsp = qmp.cmd_raw('inject-host-memory-failure',
                                  {'kind': 'action-optional',
                                   'address': pa, 'count': count})
                if 'error' in rsp:
                    refused += count
                    desc = rsp['error']['desc']
                    errors[desc] = errors.get(desc, 0) + count
                else:
                    t = time.time()
                    sent += [(start, t, pa + i * 4096) for i in range(count)]
        elif path in ('self', 'pipe'):
            if pipe:
                args = {'kind': 'action-required', 'cpu-index': 0} \
                    if style == 'ar' else {'kind': 'action-optional'}
                # sent from a thread while this one reads the replies
                sender = threading.Thread(target=pipe.send, args=(
                    [{'execute': 'inject-host-memory-failure',
                      'arguments': dict(args, address=pa)} for pa in pages],))
                sender.start()
                replies = pipe.replies(len(pages))
                sender.join()
                for pa, (t, rsp) in zip(pages, replies):
                    if 'error' in rsp:
                        refused += 1
                        desc = rsp['error']['desc']
                        errors[desc] = errors.get(desc, 0) + 1
                    else:
                        sent.append((start, t, pa))
                pipe.close()
            else:
                sent = [(start, start, pa) for pa in pages]
        for pa in pages if path not in ('self', 'pipe', 'count') else []:
            t = time.time()
            if path == 'raw':
                blob = base64.b64encode(ghes_mem_error_block(pa)).decode()
                rsp = qmp.cmd_raw('inject-ghes-v2-error', {'cper': blob})
            elif path == 'mce':
                # bank 9: VAL UC EN MISCV ADDRV S, MCACOD 0xc0 (SRAO);
                # MCG_STATUS MCIP RIPV; broadcast, as hardware does
                rsp = qmp.cmd_raw('human-monitor-command', {
                    'command-line': 'mce -b 0 9 0xbd000000000000c0 0x5 '
                                    '0x%x 0x8c' % pa})
                if rsp.get('return'):
                    rsp = {'error': {'desc': rsp['return'].strip()}}
            else:
                args = {'kind': 'action-optional', 'address': pa}
                if style == 'ar':
                    args.update({'kind': 'action-required', 'cpu-index': 0})
                rsp = qmp.cmd_raw('inject-host-memory-failure', args)
            if 'error' in rsp:
                refused += 1
                desc = rsp['error']['desc']
                errors[desc] = errors.get(desc, 0) + 1
            else:
                sent.append((t, time.time(), pa))
        injected_s = time.time() - start
        if migrate:
            src = guest
            guest, res['waiting_at_migration'], res['migration'] = \
                migrate_live(src, cmd, say)
            src.stop()
            res['dst_work'] = guest.work
            console = Console(guest.log)
            qmp = guest.qmp
            if res['migration'] != 'completed':
                raise RuntimeError('migration ' + res['migration'])
        # Wait for the guest to count them; stop after @settle seconds
        # without progress.
        handled, last_change = 0, time.time()
        hwc_last = hwc0
        while handled < len(sent) and time.time() - last_change < settle:
            for line in console.read_new():
                # a kernel message may cut the line short after the count
                m = re.match(r'HWC (-?\d+)\b', line)
                if m and int(m.group(1)) != hwc_last:
                    hwc_last = int(m.group(1))
                    handled = min((hwc_last - hwc0) // 4, n)
                    last_change = time.time()
                if 'Kernel panic' in line:
                    res['panic'] = line.strip()
            if guest.proc.poll() is not None or 'panic' in res:
                break
            time.sleep(0.05)
        wall = (last_change if handled else time.time()) - start
        res.update({'injected': n, 'refused': refused,
                    'handled': handled, 'lost': n - handled,
                    'inject_s': injected_s, 'wall_s': wall,
                    'rate': handled / wall if wall > 0 else 0,
                    'refusals': errors})
        res['latency_ms'] = latencies(path, sent, trace_file)
        q = qmp.cmd_raw('query-ras-queues')
        res['queues'] = q.get('return')        # absent from upstream
        g = qmp.cmd_raw('query-ghes').get('return')
        if g:
            res['ghes'] = [{'records': s['records'],
                            'errors': s.get('errors', s['records'])}
                           for s in g['sources']]
        res['alive'] = guest.proc.poll() is None
        if res['alive'] and (handled < n or
                             os.environ.get('RAS_STORM_DEBUG')):
            res['stall'] = stall_dump(qmp, guest.proc.pid, arch, work)
        if res['alive']:
            res['vm_status'] = \
                qmp.cmd_raw('query-status')['return']['status']
        res['console_tail'] = guest.console()[-2000:]
    finally:
        guest.stop()
        # a run that lost anything keeps its console and trace for study
        if res.get('lost', 1) or not res.get('alive'):
            res['kept'] = work
        elif not keep:
            shutil.rmtree(work, ignore_errors=True)
            if res.get('dst_work'):
                shutil.rmtree(res['dst_work'], ignore_errors=True)
    return res


def stall_dump(qmp, pid, arch, work):
    """Where a storm that stopped short stands: every vCPU's registers
    (registers.txt) and every QEMU thread's stack (stacks.txt, gdb), kept
    in @work; returns the vCPUs' program counters and the stacks, short,
    for a log that is all a CI run leaves."""
    regs = ''
    for c in ['info registers -a'] + \
            (['cpu 0', 'info lapic', 'cpu 1', 'info lapic']
             if arch == 'x86' else []):
        regs += qmp.cmd_raw('human-monitor-command',
                            {'command-line': c}).get('return', '')
    with open(os.path.join(work, 'registers.txt'), 'w') as f:
        f.write(regs)
    pcs = [m.group(1) for m in
           re.finditer(r'^\s*(CPU#\d+|RIP=.*|PC=\S+|PSTATE=\S+ \S+ \S+)',
                       regs, re.M)]
    try:
        stacks = subprocess.run(
            ['gdb', '-p', str(pid), '-batch', '-nx',
             '-ex', 'thread apply all bt 12'],
            capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        stacks = 'no stacks: %s' % e
    with open(os.path.join(work, 'stacks.txt'), 'w') as f:
        f.write(stacks)
    frames = [ln for ln in stacks.splitlines()
              if ln.startswith(('Thread ', '#'))]
    return '\n'.join(pcs) + '\n' + '\n'.join(frames)[:6000]


def latencies(path, sent, trace_file):
    """QEMU-side latency (ms) from the injection command to the guest
    notification, for each error whose notification was traced.  A
    notification QEMU raises inside the command itself (upstream) is not
    traced there: the command's round trip bounds it instead."""
    notes = notifications(trace_file)
    lat = []
    if notes:
        by_gpa = {}
        async_notes = []
        for t, kind, gpa in notes:
            if kind == 'gpa':
                by_gpa.setdefault(gpa, t)
            elif kind == 'ghes0':
                async_notes.append(t)
        if by_gpa:
            for t0, _, pa in sent:
                if pa in by_gpa:
                    lat.append(by_gpa[pa] - t0)
        else:
            # the asynchronous source delivers in order: k-th with k-th
            for (t0, _, _), t in zip(sent, async_notes):
                lat.append(t - t0)
        kind = 'traced'
    else:
        lat = [t1 - t0 for t0, t1, _ in sent]
        kind = 'round trip'
    lat = [x * 1000 for x in lat]
    return {'how': kind, 'count': len(lat), 'p50': percentile(lat, 50),
            'p99': percentile(lat, 99), 'max': max(lat) if lat else None}
