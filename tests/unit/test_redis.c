/*
 * test_redis.c - the Redis Cluster slot of a key (common/redis.c), against
 * the values `redis-cli CLUSTER KEYSLOT` gives (Redis 7.0).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "redis.h"

static void
test_keyslot(void **state)
{
	assert_int_equal(redis_keyslot("foo"), 12182);
	assert_int_equal(redis_keyslot("123456789"), 12739);
	/* a {hash tag}: only what is inside counts */
	assert_int_equal(redis_keyslot("{user1000}.following"), 3443);
	assert_int_equal(redis_keyslot("user1000"), 3443);
	/* an empty tag is no tag */
	assert_int_equal(redis_keyslot("a{}b"), 13694);
	assert_int_equal(redis_keyslot("{}x"), 10595);
	/* the first '{' to the first '}' after it, as Tern's queue keys */
	assert_int_equal(redis_keyslot("tern:{q:example.test/{default}}:conn"),
	    9957);
	assert_int_equal(redis_keyslot("q:example.test/{default"), 9957);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyslot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
