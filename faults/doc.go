// Package faults holds fault tests of the incidentd binary: replicas killed
// on one PostgreSQL, PostgreSQL connections terminated under load, the
// daemon killed under load, a full disk under SQLite. They run real
// processes on loopback with bounded polling, and skip their PostgreSQL
// parts without INCIDENTD_TEST_POSTGRES_DSN.
package faults
