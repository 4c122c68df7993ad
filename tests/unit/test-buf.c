#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "buf.h"

Test(buf, append_and_consume)
{
	tf_buf b;

	tf_buf_init(&b, 0);
	cr_assert_eq(tf_buf_append_str(&b, "hello "), 0);
	cr_assert_eq(tf_buf_printf(&b, "%s %d", "world", 42), 0);
	cr_assert_eq(b.len, strlen("hello world 42"));
	cr_assert(memcmp(b.data, "hello world 42", b.len) == 0);
	tf_buf_consume(&b, 6);
	cr_assert(memcmp(b.data, "world 42", b.len) == 0);
	tf_buf_consume(&b, 100);
	cr_assert_eq(b.len, 0);
	tf_buf_free(&b);
}

Test(buf, cap_is_hard_and_leaves_buffer_unchanged)
{
	tf_buf b;
	char big[100];

	memset(big, 'x', sizeof(big));
	tf_buf_init(&b, 64);
	cr_assert_eq(tf_buf_append(&b, big, 60), 0);
	cr_assert_eq(tf_buf_append(&b, big, 5), -ENOBUFS);
	cr_assert_eq(b.len, 60);
	cr_assert_eq(tf_buf_append(&b, big, 4), 0);
	cr_assert_eq(b.len, 64);
	cr_assert_leq(b.alloc, 64);
	cr_assert_eq(tf_buf_printf(&b, "x"), -ENOBUFS);
	tf_buf_free(&b);
	cr_assert_eq(b.cap, 64);
}

Test(buf, huge_reserve_does_not_overflow)
{
	tf_buf b;

	tf_buf_init(&b, 0);
	cr_assert_eq(tf_buf_append_str(&b, "ab"), 0);
	cr_assert_eq(tf_buf_reserve(&b, SIZE_MAX - 1), -ENOBUFS);
	tf_buf_free(&b);
}
