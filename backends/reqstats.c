/* SPDX-License-Identifier: Apache-2.0 */
#include "backend.h"

/* 5 ms .. 30 s: a healthy gateway answers in tens of ms; a login or a mapping under load
 * takes seconds; past 30 s the operation's deadline has usually fired. */
const int64_t backend_request_bucket_usec[BACKEND_REQUEST_BUCKETS] = {
    5000,   10000,   25000,   50000,   100000,	 250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

void backend_request_record(struct backend_request_stats *s, int64_t usec, int status)
{
	unsigned i = 0;

	if (usec < 0)
		usec = 0;
	while (i < BACKEND_REQUEST_BUCKETS && usec > backend_request_bucket_usec[i])
		i++;
	__atomic_fetch_add(&s->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->sum_usec, (uint64_t)usec, __ATOMIC_RELAXED);
	if (status < 0)
		__atomic_fetch_add(&s->transport_errors, 1, __ATOMIC_RELAXED);
	else if (status >= 400)
		__atomic_fetch_add(&s->http_errors, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&s->answered, 1, __ATOMIC_RELAXED);
}

void backend_request_read(const struct backend_request_stats *s, struct backend_request_stats *ret)
{
	ret->answered = __atomic_load_n(&s->answered, __ATOMIC_RELAXED);
	ret->http_errors = __atomic_load_n(&s->http_errors, __ATOMIC_RELAXED);
	ret->transport_errors = __atomic_load_n(&s->transport_errors, __ATOMIC_RELAXED);
	for (unsigned i = 0; i <= BACKEND_REQUEST_BUCKETS; i++)
		ret->bucket[i] = __atomic_load_n(&s->bucket[i], __ATOMIC_RELAXED);
	ret->sum_usec = __atomic_load_n(&s->sum_usec, __ATOMIC_RELAXED);
}
