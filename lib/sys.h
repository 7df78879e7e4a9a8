/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel seam. Everything that touches the kernel or runs a helper program goes
 * through a struct sys carried in a context: sysfs/dev/proc/etc roots that tests point at
 * fixture trees, and a small table of operations that tests replace with fakes.
 * No --wrap, no LD_PRELOAD.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sys;

/* Result of running a helper program. */
struct sys_run_result {
	int status;  /* exit status 0-255, or 128+signal when killed */
	char *out;   /* stdout+stderr, NUL-terminated, owned by the caller (free()) */
};

struct sys_ops {
	/* Read a whole (small) file into a NUL-terminated buffer. -ENOENT when absent. */
	int (*read_file)(const struct sys *s, const char *path, char **ret, size_t max);
	/* Write data to an existing file (sysfs attribute style: open, one write, close). */
	int (*write_file)(const struct sys *s, const char *path, const char *data);
	/* Run argv[0] (absolute path or looked up in PATH) without a shell, waiting at most
	 * timeout_ms (then SIGKILL to its process group). Returns 0 and fills *ret when it ran,
	 * whatever its exit status; negative errno when it could not be started or timed out
	 * (-ETIMEDOUT). */
	int (*run)(const struct sys *s, char *const argv[], int timeout_ms, struct sys_run_result *ret);
	int (*mount)(const struct sys *s, const char *src, const char *target, const char *fstype,
		     unsigned long flags, const char *data);
	int (*umount)(const struct sys *s, const char *target, int flags);
	/* Create a directory and its parents (mode for the leaf). 0 if it exists. */
	int (*mkdir_p)(const struct sys *s, const char *path, mode_t mode);
	int (*rmdir)(const struct sys *s, const char *path);
	/* SCSI TEST UNIT READY through SG_IO on devnode (opened O_RDONLY|O_NONBLOCK), with
	 * the command's own timeout_ms. 0 ready; -EIO with *ret_sense_key set when the
	 * device answered CHECK CONDITION (sense key, e.g. 2 NOT READY, 6 UNIT ATTENTION);
	 * -EHOSTDOWN / -ETIMEDOUT / -ENXIO for transport, timeout and gone; other negative
	 * errno from open/ioctl. Blocks up to about timeout_ms (the kernel's error handling
	 * may add to it: callers that must not wait run it on a thread of their own). NULL in
	 * fakes that do not model SCSI. */
	int (*scsi_tur)(const struct sys *s, const char *devnode, int timeout_ms,
			int *ret_sense_key);
	/* Persistent reservations through the block layer's PR ioctls (linux/pr.h) on
	 * devnode, the volume's device (the dm-multipath map, which registers every path,
	 * or the single disk). type is the IOC_PR type (SYS_PR_WRITE_EXCLUSIVE_REG_ONLY).
	 * 0 on success; -EBADE reservation conflict; -EOPNOTSUPP when the device or target
	 * does not do reservations; -EHOSTDOWN when a path failed it; -EIO otherwise (see
	 * sys_pr_ioctl_result). Each blocks for one round trip to the target. NULL in fakes
	 * that do not model reservations. */
	int (*pr_register)(const struct sys *s, const char *devnode, uint64_t old_key,
			   uint64_t new_key, bool ignore_key);
	int (*pr_reserve)(const struct sys *s, const char *devnode, uint64_t key, unsigned type);
	int (*pr_release)(const struct sys *s, const char *devnode, uint64_t key, unsigned type);
	/* Preempt the registrant (and its reservation) old_key with our new_key; abort also
	 * aborts its outstanding commands (PREEMPT AND ABORT) so late writes never land. */
	int (*pr_preempt)(const struct sys *s, const char *devnode, uint64_t old_key,
			  uint64_t new_key, unsigned type, bool abort);
	int (*pr_clear)(const struct sys *s, const char *devnode, uint64_t key);
	/* SCSI PERSISTENT RESERVE IN (SYS_PR_IN_*) through SG_IO on devnode, at most len
	 * bytes into buf, with the command's own timeout_ms. 0 and *ret_len (bytes the
	 * target returned) on success; -EOPNOTSUPP for ILLEGAL REQUEST (no PR support);
	 * -EBADE for RESERVATION CONFLICT; else as scsi_tur. NULL in fakes. */
	int (*scsi_pr_in)(const struct sys *s, const char *devnode, unsigned service_action,
			  unsigned char *buf, size_t len, int timeout_ms, size_t *ret_len);
};

/* PR types as the IOC_PR ioctls spell them (enum pr_type in linux/pr.h). Write Exclusive
 * - Registrants Only is 3 there (PR_WRITE_EXCLUSIVE_REG_ONLY) and 5h in SCSI (sd.c maps
 * it); IOC_PR type 5 is Write Exclusive - All Registrants (SCSI 7h). */
enum {
	SYS_PR_WRITE_EXCLUSIVE = 1,
	SYS_PR_EXCLUSIVE_ACCESS = 2,
	SYS_PR_WRITE_EXCLUSIVE_REG_ONLY = 3,
	SYS_PR_EXCLUSIVE_ACCESS_REG_ONLY = 4,
	SYS_PR_WRITE_EXCLUSIVE_ALL_REGS = 5,
	SYS_PR_EXCLUSIVE_ACCESS_ALL_REGS = 6,
};

/* PERSISTENT RESERVE IN service actions. */
enum {
	SYS_PR_IN_READ_KEYS = 0x00,
	SYS_PR_IN_READ_RESERVATION = 0x01,
	SYS_PR_IN_READ_FULL_STATUS = 0x03,
};

struct sys {
	const char *sysfs_root; /* "" for the real system, or a fixture tree prefix */
	const char *dev_root;
	const char *proc_root;
	const char *etc_root;
	const struct sys_ops *ops;
	void *userdata; /* for fakes */
};

/* The real kernel: empty roots and libc implementations. */
extern const struct sys_ops sys_real_ops;
void sys_init_real(struct sys *s);

/* Build "<root><path>" into buf. Returns buf, or NULL if it does not fit. */
char *sys_path(char *buf, size_t n, const char *root, const char *path);

/* Convenience wrappers that prefix the right root and call the ops. */
int sys_read_sysfs(const struct sys *s, const char *path, char **ret);
int sys_write_sysfs(const struct sys *s, const char *path, const char *data);
/* Read a sysfs attribute and strip the trailing newline/whitespace. */
int sys_read_attr(const struct sys *s, const char *path, char *buf, size_t n);

/* Call cb for each entry of a sysfs directory (under sysfs_root; not "." or ".."). cb
 * returning non-zero stops the walk and is returned; -ENOENT when the directory is absent. */
int sys_sysfs_for_each(const struct sys *s, const char *path,
		       int (*cb)(const char *name, void *ud), void *ud);

/* Pure: what an SG_IO command's outcome means (sg_io_hdr's status, host_status,
 * driver_status and the sense bytes it wrote). 0 good; -EIO with *ret_sense_key (0..15,
 * or -1 when no usable sense came back) on CHECK CONDITION; -EBUSY for BUSY / TASK SET
 * FULL; -ETIMEDOUT for a command timeout; -EHOSTDOWN when the transport failed it
 * (DID_NO_CONNECT, DID_TRANSPORT_*, aborted, bus busy); -ENXIO for a target that is gone
 * (DID_BAD_TARGET); -EIO for anything else. */
int sys_sg_io_decode(unsigned status, unsigned host_status, unsigned driver_status,
		     const unsigned char *sense, size_t sense_len, int *ret_sense_key);
/* The sense key of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data; -1 if none. */
int sys_sense_key(const unsigned char *sense, size_t len);

/* Pure: what a block PR ioctl's return value means. r is ioctl()'s result and err the
 * errno when r < 0. The kernel hands back negative errno (-ENOTTY/-EOPNOTSUPP: no PR
 * ops; -EINVAL: the target rejected a field, ILLEGAL REQUEST) or a positive status:
 * enum pr_status since Linux 6.2 (0x18 reservation conflict, path failures 0x10000,
 * 0xe0000, 0xf0000), the raw SCSI result before (status byte, host byte << 16), or an
 * NVMe status (0x83 reservation conflict). Returns 0, -EBADE (conflict), -EOPNOTSUPP,
 * -EHOSTDOWN (a path failed it: retry on another), or -EIO. */
int sys_pr_ioctl_result(int r, int err);
/* Pure: a PERSISTENT RESERVE IN outcome: as sys_sg_io_decode, but RESERVATION CONFLICT
 * is -EBADE, ILLEGAL REQUEST (sense key 5: opcode or service action not supported)
 * is -EOPNOTSUPP and UNIT ATTENTION (sense key 6, e.g. "registrations preempted" right
 * after another host's takeover: SG_IO does not retry it) is -EAGAIN: send it again. */
int sys_pr_in_decode(unsigned status, unsigned host_status, unsigned driver_status,
		     const unsigned char *sense, size_t sense_len);

/* Run argv with a timeout; returns exit status (>= 0) or a negative errno. The combined
 * output, when ret_out is non-NULL, is handed to the caller. */
int sys_run(const struct sys *s, char *const argv[], int timeout_ms, char **ret_out);
