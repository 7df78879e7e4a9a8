/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "macro.h"

#define EXEC_OUT_MAX (256 * 1024)

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int exec_run(char *const argv[], int timeout_ms, int *ret_status, char **ret_out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int pipefd[2] = { -EBADF, -EBADF };
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	int r, status = 0, timed_out = 0;
	pid_t pid;

	if (!argv || !argv[0])
		return -EINVAL;
	out = malloc(EXEC_OUT_MAX + 1);
	if (!out)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	{
		sigset_t none, def;

		sigemptyset(&none);
		sigfillset(&def);
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setsigdefault(&attr, &def);
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return -r;
	}

	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		int wait_ms = -1;
		char sink[4096];
		ssize_t k;

		if (deadline) {
			long long left = deadline - now_ms();

			if (left <= 0) {
				timed_out = 1;
				break;
			}
			wait_ms = (int)left;
		}
		r = poll(&p, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		if (len < EXEC_OUT_MAX)
			k = read(pipefd[0], out + len, EXEC_OUT_MAX - len);
		else
			k = read(pipefd[0], sink, sizeof(sink));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (len < EXEC_OUT_MAX)
			len += (size_t)k;
	}
	close(pipefd[0]);
	if (timed_out)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return negative_errno();
	}
	if (timed_out)
		return -ETIMEDOUT;
	out[len] = 0;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (ret_out)
		*ret_out = TAKE_PTR(out);
	return 0;
}
