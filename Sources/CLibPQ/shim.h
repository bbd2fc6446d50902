#ifndef OTEL_BRIDGE_CLIBPQ_SHIM_H
#define OTEL_BRIDGE_CLIBPQ_SHIM_H
#include <libpq-fe.h>

// Typed helpers for what Swift does not import well from libpq: the PG_DIAG_* field codes are
// character macros, and the status enums are easier to compare as plain ints.

/// The SQLSTATE of an error result, or NULL.
static inline const char *otel_pq_result_sqlstate(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}

/// The primary (human-readable) error message of an error result, or NULL.
static inline const char *otel_pq_result_message(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
}

/// The DETAIL of an error result, or NULL.
static inline const char *otel_pq_result_detail(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
}

/// The HINT of an error result, or NULL.
static inline const char *otel_pq_result_hint(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_MESSAGE_HINT);
}

/// 1 when the connection is usable (PQstatus == CONNECTION_OK), 0 otherwise.
static inline int otel_pq_connection_ok(const PGconn *conn) {
    return conn != NULL && PQstatus(conn) == CONNECTION_OK;
}

/// 1 when the connection holds no transaction block: idle (PQTRANS_IDLE) or broken (PQTRANS_UNKNOWN).
static inline int otel_pq_transaction_idle(const PGconn *conn) {
    /* A broken connection (PQTRANS_UNKNOWN) holds no transaction either. */
    PGTransactionStatusType status = PQtransactionStatus(conn);
    return status == PQTRANS_IDLE || status == PQTRANS_UNKNOWN;
}

/// 1 when the result carries a successful outcome (command or rows).
static inline int otel_pq_result_ok(const PGresult *result) {
    ExecStatusType status = PQresultStatus(result);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

#endif
