/*
 * Poison recreated in healthy host memory, with userfaultfd
 *
 * A VM migrated off a host with failing memory arrives with holes: pages
 * whose data was lost and never sent.  Under KVM the destination's
 * memory behind them is healthy, so the guest would read whatever is
 * there.  UFFDIO_POISON (Linux 6.6, UFFD_FEATURE_POISON) installs a
 * poison marker in this process's page tables instead: any later access,
 * by a vCPU through KVM or by QEMU itself, faults as real poison does
 * (SIGBUS BUS_MCEERR_AR where the host has CONFIG_MEMORY_FAILURE).  The
 * marker lives in the mapping, not in the page: discarding the range
 * (reset) gives fresh memory back.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_POISON_UFFD_H
#define SYSTEM_POISON_UFFD_H

/*
 * Make every access to the @len bytes at @host (page aligned, in a
 * private or shared anonymous, memfd, file or hugetlbfs mapping) fault
 * as poisoned memory, throwing away what they held.  False, with @errp
 * set and the range's data possibly discarded, if the host kernel cannot.
 */
bool poison_uffd_install(void *host, uint64_t len, Error **errp);

/*
 * The same through @fd, a userfaultfd that has the range registered
 * already (postcopy's, on an incoming postcopy migration: a range takes
 * one registration only)
 */
bool poison_uffd_install_with(int fd, void *host, uint64_t len,
                              Error **errp);

/*
 * Remove the markers of the @len bytes at @host, once the memory behind
 * them has been discarded (reset): a hole punched in a shared mapping's
 * file leaves them in place.
 */
void poison_uffd_remove(void *host, uint64_t len);

/* Whether the host kernel can install poison markers at all */
bool poison_uffd_supported(void);

#endif
