/*
 * x86: raising a machine check on a vCPU
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_I386_MCE_INJECT_H
#define TARGET_I386_MCE_INJECT_H

typedef struct X86Mce {
    int bank;
    uint64_t status;            /* MCi_STATUS; 0: join another's (no bank) */
    uint64_t mcg_status;
    uint64_t addr;
    uint64_t misc;
} X86Mce;

typedef enum X86MceRaised {
    X86_MCE_RAISED,             /* the vCPU takes it */
    X86_MCE_LOGGED,             /* corrected: in the bank, no exception */
    X86_MCE_DISABLED,           /* the guest turned reporting off */
    X86_MCE_SHUTDOWN,           /* the vCPU cannot take it: reset asked */
} X86MceRaised;

/*
 * Raise @mce on @cs, from @cs's thread, as the architecture does: an
 * uncorrected error that finds reporting disabled (MCG_CTL, MCi_CTL) is
 * not raised; one the vCPU cannot take (CR4.MCE clear, or a machine
 * check still in progress) shuts it down, which QEMU turns into a reset;
 * a second error in a valid bank sets its overflow bit.  *@why says why
 * it was not raised.
 */
X86MceRaised x86_mce_raise(CPUState *cs, const X86Mce *mce, const char **why);

#endif
