/*
 * The singleton protocol of pgdaemon, with the cron manager's slot records, as spin checks it.
 *
 * Each node opens a lock connection and a work connection. The lock connection waits for the advisory lock, then
 * bumps the epoch in daemon_singleton (the takeover). Before every iteration the node pings its lock connection
 * (PreRun) and, when that fails, discards itself and connects again. An iteration reads the entry's
 * last_execution_time over the work connection, then records the next slot in one transaction whose INSERT carries
 * the fence: the epoch is still the one this holder set, and the lock is held by this holder's lock connection
 * (its server pid in pg_locks).
 *
 * Faults, at any moment and in any order, up to MAXFAULTS of them: kill -9 of a node (the server sees its sockets
 * close), a network partition of a node (its sessions live on until the server's keepalive drops them, one by one,
 * or the link comes back first), and a restart of PostgreSQL (every session ends; rows stay).
 *
 * The liveness lease: a standby whose holder's lease ran out ends the holder's sessions
 * (daemon_singleton_end_stale), only while the session holding the lock is the one the current epoch recorded; the
 * sessions die afterwards, each at a moment of its own, as pg_terminate_backend's do. When a lease runs out is timing,
 * which the model leaves out: any standby may end the holder at any step, a healthy holder as well as a frozen one,
 * and each such end counts as a fault. A frozen holder (SIGSTOP, a paused VM) is a process that takes no step for a
 * while, which spin's interleavings already include at every step; so does a holder that wakes late.
 *
 * Properties, as assertions at the moment a slot is recorded:
 *   - no slot is recorded twice (checked without the unique constraint the table also has: the fence alone must
 *     keep it);
 *   - no two holders act in the same epoch, and no holder acts in an epoch older than one already acted in (a late
 *     write of a deposed holder).
 *
 * model/check runs it, and runs it again with -DNO_FENCE to show that the assertions can fail.
 */

#define NODES     3
#define SLOTS     3
#define MAXFAULTS 3
/* Sessions of node n are 4n+1 … 4n+4: a lock and a work connection, and room for the pair a node opens while the
 * server still keeps its old pair (a partition). Ids are reused once the server has dropped them. */
#define SESSIONS  (4 * NODES + 1)
#define OWNER(s)  ((s - 1) / 4)

/* Variants, to see what each half of the fence is worth: -DNO_FENCE, -DEPOCH_ONLY, -DLOCK_ONLY. */
#if defined(NO_FENCE)
#define FENCE(ls, e) true
#elif defined(EPOCH_ONLY)
#define FENCE(ls, e) (epoch == e)
#elif defined(LOCK_ONLY)
#define FENCE(ls, e) (lock == ls)
#else
#define FENCE(ls, e) (lock == ls && epoch == e)
#endif

bool link[NODES];          /* the node reaches the database */
bool alive[SESSIONS];      /* the server still has the session */
byte lock = 0;             /* the session holding the advisory lock, 0 when free */
byte epoch = 0;            /* daemon_singleton.epoch */
bool slot_row[SLOTS];      /* scheduler_cron_slot rows */
byte last_slot = 0;        /* scheduler_recurrent_task.last_execution_time, as the next slot due */
byte newest_acted = 0;     /* the newest epoch in which a holder recorded a slot */
byte acted_by = 0;         /* the lock session of that holder */
byte faults = 0;
byte recorded = 0;         /* daemon_singleton.backend_pid: the lock session that took the current epoch */
bool dying[SESSIONS];      /* ended by pg_terminate_backend, not gone yet */

inline drop(s) {
    alive[s] = false;
    dying[s] = false;
    if
    :: lock == s -> lock = 0
    :: else -> skip
    fi
}

proctype Node(byte n) {
    byte ls, ws, my_epoch, slot, s;
end_connect:
    atomic {
        link[n] && (!(alive[4 * n + 1] || alive[4 * n + 2]) || !(alive[4 * n + 3] || alive[4 * n + 4])) ->
        if
        :: !(alive[4 * n + 1] || alive[4 * n + 2]) -> ls = 4 * n + 1
        :: else -> ls = 4 * n + 3
        fi;
        ws = ls + 1; alive[ls] = true; alive[ws] = true; my_epoch = 0
    };
end_standby:
    if
    :: atomic { link[n] && alive[ls] && lock == 0 -> lock = ls }
    :: atomic { !alive[ls] -> skip }; goto end_connect
    :: atomic {
        /* The holder's lease ran out: end its node's sessions, over the work connection, while its lock session is
         * the one the epoch recorded. */
        link[n] && alive[ws] && faults < MAXFAULTS && lock != 0 && lock == recorded && OWNER(lock) != n ->
        faults++;
        for (s : 4 * OWNER(lock) + 1 .. 4 * OWNER(lock) + 4) {
            dying[s] = alive[s]
        }
        s = 0
    }; goto end_standby
    fi;
    /* The takeover, over the lock connection, records this lock session with the epoch. */
    if
    :: atomic { link[n] && alive[ls] -> epoch++; my_epoch = epoch; recorded = ls }
    :: atomic { !alive[ls] -> skip }; goto end_connect
    fi;
iteration:
    /* PreRun: a holder whose lock connection fails its ping discards itself. */
    if
    :: atomic { link[n] && alive[ls] -> skip }
    :: atomic { !(link[n] && alive[ls]) -> skip }; goto end_connect
    fi;
    if
    :: atomic { link[n] && alive[ws] -> slot = last_slot }
    :: atomic { !alive[ws] -> skip }; goto end_connect
    fi;
    if
    :: slot >= SLOTS -> goto end_done
    :: else -> skip
    fi;
    /* One transaction: the slot row under the fence, then last_execution_time. */
    if
    :: atomic {
        link[n] && alive[ws] ->
        if
        :: FENCE(ls, my_epoch) ->
            assert(!slot_row[slot]);
            assert(my_epoch > newest_acted || my_epoch == newest_acted && acted_by == ls);
            slot_row[slot] = true; last_slot = slot + 1;
            newest_acted = my_epoch; acted_by = ls
        :: else -> skip
        fi;
        slot = 0
    }
    :: atomic { !alive[ws] -> slot = 0 }; goto end_connect
    fi;
    goto iteration;
end_done:
    skip
}

active proctype Faults() {
    byte n, s;
end_faults:
    do
    :: atomic {
        faults < MAXFAULTS -> faults++;
        select(n : 0 .. NODES - 1);
        if
        :: /* kill -9 of the node: its sockets close, and the server ends its sessions at once */
            for (s : 4 * n + 1 .. 4 * n + 4) {
                drop(s)
            }
        :: /* a network partition cuts the node off; its sessions live on in the server */
            link[n] = false
        :: /* PostgreSQL restarts (fast shutdown): every session ends */
            for (s : 1 .. SESSIONS - 1) {
                drop(s)
            }
        fi;
        n = 0; s = 0
    }
    :: atomic {
        /* the partition heals */
        select(n : 0 .. NODES - 1);
        if
        :: !link[n] -> link[n] = true
        :: else -> skip
        fi;
        n = 0
    }
    :: atomic {
        /* a session that pg_terminate_backend ended goes */
        select(s : 1 .. SESSIONS - 1);
        if
        :: dying[s] -> drop(s)
        :: else -> skip
        fi;
        s = 0
    }
    :: atomic {
        /* the server's keepalive gives up on one session of a node that is cut off */
        select(s : 1 .. SESSIONS - 1);
        if
        :: alive[s] && !link[OWNER(s)] -> drop(s)
        :: else -> skip
        fi;
        s = 0
    }
    od
}

init {
    byte n;
    atomic {
        for (n : 0 .. NODES - 1) {
            link[n] = true;
            run Node(n)
        }
        n = 0
    }
}
