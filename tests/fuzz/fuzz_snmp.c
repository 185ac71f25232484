/*
 * fuzz_snmp.c - libFuzzer target for mgmtd's SNMP agent input: one
 * datagram through snmp_packet_parse() (net-snmp's BER and PDU parser
 * behind our checks) and, when it is a request, snmp_packet_answer()
 * from a fixed TERN-MIB view (GET, GETNEXT, GETBULK, SET).
 *
 *	./fuzz_snmp -max_total_time=10 tests/fuzz/corpus/snmp
 *
 * Checked: nothing is read or written out of bounds, nothing leaks; an
 * answer is a BER SEQUENCE no larger than a datagram.
 *
 * FUZZ_EXTRA: mgmtd/snmp_packet.c mgmtd/snmp_mib.c mgmtd/ctl_list.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmtd.h"
#include "snmp.h"

static struct snmp_view *
fuzz_view(void)
{
	static const char status[] = "{\"status\":{\"queue\":{\"messages\":2,"
	    "\"recipients\":3,\"bytes\":1234},\"received\":5,\"delivered\":4,"
	    "\"bounced\":1,\"deferred\":2,\"retryPending\":1,\"spoolFull\":"
	    "false,\"smtpOut\":2},\"processes\":[{\"name\":\"queued\","
	    "\"started\":1}]}";
	static const char queues[] = "[{\"queue\":\"a.test/{default}\","
	    "\"domain\":\"a.test\",\"vmta\":\"{default}\",\"rcpts\":2,"
	    "\"delivered\":1,\"bounced\":0,\"deferred\":1,\"connections\":1,"
	    "\"mode\":\"backoff\",\"paused\":true},{\"queue\":\"b.test/v1\","
	    "\"domain\":\"b.test\",\"vmta\":\"v1\",\"rcpts\":1,\"mode\":"
	    "\"normal\",\"paused\":false}]";
	struct snmp_stats st = { 0 };
	json_t *s = json_loads(status, 0, NULL), *q = json_loads(queues, 0,
	    NULL);
	struct snmp_view *vw = snmp_view_build(s, q, &st, 1000);

	json_decref(s);
	json_decref(q);
	return vw;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snmp_view *vw;
	static char *const communities[] = { "public", "second" };
	struct snmp_stats st = { 0 };
	struct snmp_req *req;
	unsigned char *out;
	size_t len;
	int is_set;

	if (vw == NULL)
		vw = fuzz_view();
	if ((req = snmp_packet_parse(data, size, communities, 2, &st,
	    &is_set)) == NULL)
		return 0;
	if ((out = snmp_packet_answer(req, is_set ? NULL : vw, &len)) !=
	    NULL) {
		if (len == 0 || len > 65507 || out[0] != 0x30)
			abort();
		free(out);
	}
	snmp_packet_free(req);
	return 0;
}
