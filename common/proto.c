/*
 * proto.c - names of processes and message types, for logs.
 */
#include <stdio.h>

#include "proto.h"

const char *
proc_name(int proc)
{
	static const char *names[PROC_COUNT] = {
		"ternd", "smtpd", "queued", "deliverd", "bounced", "mgmtd",
		"tern",
	};

	if (proc < 0 || proc >= PROC_COUNT)
		return "unknown";
	return names[proc];
}

const char *
proto_name(uint32_t type)
{
	static char buf[32];

	switch (type) {
#define N(t)	case t: return #t;
	N(IMSG_CFG_BEGIN) N(IMSG_CFG_NODE) N(IMSG_CFG_END) N(IMSG_PEER)
	N(IMSG_LISTENER) N(IMSG_FILE) N(IMSG_START)
	N(MSG_CREATE) N(MSG_CREATE_OK) N(MSG_CREATE_FAIL) N(MSG_COMMIT)
	N(MSG_COMMIT_OK) N(MSG_COMMIT_FAIL) N(MSG_ROLLBACK) N(MSG_SPOOL_STATE)
	N(MSG_SCRATCH)
	N(SMTPD_TLS_CERT) N(SMTPD_PASSWD_FILE) N(MSG_SESSIONS_IN)
	N(DLV_JOB) N(DLV_RESULT) N(DLV_DONE) N(DLV_ACK) N(DLV_INFLIGHT)
	N(DLV_HELLO_END) N(DLV_DKIM_KEY) N(DLV_QUEUE_MODE) N(DLV_NAMESERVERS)
	N(DLV_SLOT_REQ) N(DLV_SLOT_GRANT) N(DLV_SLOT_FREE) N(DLV_SLOT_HELD)
	N(DLV_QUEUE_STATS) N(DLV_PIPE_REQ) N(DLV_PIPE_DONE)
	N(DLV_TLS_CA) N(DLV_ROLLUP)
	N(BNC_RECORD) N(BNC_ACK) N(BNC_DSN) N(BNC_INJECT)
	N(BNC_INBOUND) N(BNC_SUPPRESS) N(BNC_SUPPRESS_DONE) N(CTL_SUPPRESS) N(CTL_SUPPRESS_LIST)
	N(CTL_ROTATE) N(BNC_ROTATE) N(BNC_ROTATED)
	N(CTL_STATUS_REQ) N(CTL_STATUS) N(CTL_QUEUES_REQ) N(CTL_QUEUES)
	N(CTL_PROCS_REQ) N(CTL_PROCS) N(CTL_QUEUE_OP) N(CTL_RESULT)
	N(CTL_RELOAD) N(IMSG_LISTENER_CLOSE)
	N(CTL_JOBS_REQ) N(CTL_JOBS)
	N(CTL_QUEUE_FORCE) N(CTL_RESOLVE_REQ) N(CTL_RESOLVE) N(CTL_TRACE_REQ)
	N(CTL_TRACE) N(CTL_TRACE_END)
	N(BNC_EVENT_SINK)
	N(CLUSTER_PASSWORD) N(CTL_CLUSTER_REQ) N(CTL_CLUSTER)
#undef N
	}
	snprintf(buf, sizeof(buf), "imsg-%u", type);
	return buf;
}
