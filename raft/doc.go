// Package raft is the Raft consensus algorithm of the paper ("In Search of
// an Understandable Consensus Algorithm", extended version) and of Ongaro's
// thesis ("Consensus: Bridging Theory and Practice"), written as a pure
// state machine: no goroutines, no clock, no randomness of its own, no I/O.
// Time arrives as Tick, messages as Step, randomness through Config.Rand;
// everything the server wants done comes back as values in a Ready. The
// same code runs under the real host (cmd/havend) and the simulator (sim).
//
// This comment is the map of the package: where each piece of Figure 2 and
// each feature lives, and which test fails without it. Each test named
// beside a piece of code was checked by breaking that code and watching
// the test fail.
//
// # The host contract
//
// This is the one place that says how a host drives a server; Ready's and
// the methods' comments point here. A host owns one *Raft and calls it from
// one goroutine (the steps of a Ready may run on others, see below).
//
// Starting:
//   - New(cfg, restored) builds the server from what the host read back
//     from durable storage (RestoredState: HardState, Snapshot, Entries).
//     A brand new cluster is created only when the host says so: with
//     Config.Bootstrap and an empty RestoredState, every member writes the
//     same configuration entries for Config.Voters (and their
//     Config.Addresses) at term 1, already committed, so logs agree from
//     the start. Storage that is not empty always wins over Bootstrap;
//     empty storage with Voters but without Bootstrap is refused (a server
//     that lost its disk forgot its vote and must rejoin as a new member).
//     TestBootstrapOnlyWhenTheHostSaysSo. A server joining later starts with
//     no Voters and learns the membership from the leader's log. New
//     refuses impossible configurations and stored states (a lease without
//     CheckQuorum or with a margin outside [1, ElectionTicks), a commit index
//     beyond the log, entries that do not follow the snapshot one by one
//     or whose terms go back). TestConfigValidation,
//     TestLeaseMarginValidated, TestNewRefusesBadRestoredEntries
//
// Inputs, at any time (also between Ready and Advance):
//   - Tick() advances the logical clock. ElectionTicks is the base election
//     timeout (each term a follower waits a random number of ticks in
//     [ElectionTicks, 2*ElectionTicks)); HeartbeatTicks the leader's
//     heartbeat interval.
//   - Step(m) hands the server a message from a peer. It returns an error
//     only for a message that is not addressed to it, has no valid sender,
//     or has a shape no correct server sends (checkMessage: entries that do
//     not follow Index one by one, terms that go back or exceed the
//     message's, an InstallSnapshot without a snapshot); everything else
//     (stale terms, unknown senders) is handled or ignored by the rules
//     below. TestStepRefusesMalformedMessages
//   - Propose(data) appends a command on the leader and returns its index
//     and term (ErrNotLeader, ErrTransferring, ErrProposalDropped
//     otherwise; ErrTooManyUncommitted, which wraps ErrProposalDropped,
//     once MaxUncommittedEntries wait to commit:
//     TestUncommittedEntriesBounded). The command is committed when the host
//     applies an entry with that index and term; if the index shows up with
//     another term, it was lost to a leader change.
//   - ReadIndex(ctx) asks for a linearizable read. The answer is a
//     ReadState{Index, ctx} in a later Ready, on this server even if it is
//     a follower; the host serves the read once it has applied through
//     Index. No answer (leader lost, message lost) means retry. ctx need be
//     unique only among this host's outstanding reads: raft matches
//     confirmations by its own round numbers. A read makes work at once
//     (HasReady is true right after it, outside Ready..Advance), so it
//     never waits for a tick. TestReadIndexMakesWorkVisibleAtOnce
//   - ProposeConfChange(cc) appends a membership change (AddLearner,
//     AddVoter, RemoveNode; cc.Context is the member's address); it is in
//     force as soon as it is in a log.
//   - TransferLeadership(target) moves leadership to another voter.
//   - ReportSnapshot(to, ok) tells the leader a snapshot send failed, if
//     the transport knows. TestReportSnapshotFailure
//
// Outputs: while HasReady(), take rd := Ready() and, in this order:
//
//  0. Messages[:rd.EarlyMessages] may be sent at once, before or while
//     step 1 runs: a leader's AppendEntries, heartbeats and snapshots at a
//     term it had already stored with its vote (thesis §10.2.1: the leader
//     writes its own log in parallel with replicating it; its own copy
//     counts towards commitment only once Advance reports it durable). A
//     host that does not care sends them with the others in step 2.
//     TestLeaderAppendsMayLeaveBeforeTheFsync,
//     TestScenarioEarlyAppendsSurviveLeaderCrashes
//  1. Persist rd.Snapshot (if any), then rd.HardState (if not empty) and
//     rd.Entries (Entries replace every stored entry from Entries[0].Index
//     on), with an fsync before step 2 when rd.MustSync is set (the term,
//     the vote or the log changed; a commit-only HardState needs none).
//  2. Send Messages[rd.EarlyMessages:] — votes, acknowledgements, a
//     candidacy, anything at a term this Ready makes durable.
//  3. Install rd.Snapshot into the state machine (if any), apply
//     rd.CommittedEntries in order (at most MaxCommittedBytesPerReady, of
//     their sizes plus what Config.ApplyCost says they cost, but at least
//     one entry, per Ready: TestCommittedEntriesPerReadyBounded,
//     TestApplyCostBoundsTheWorkOfAReady),
//     then serve rd.ReadStates whose Index is applied. Here the host may
//     call Compact(index, data) for any index it has applied, including
//     the entries of this Ready (TestCompactFromTheApplyStep); the log
//     before index is dropped and the returned Snapshot must be stored
//     durably by the host.
//  4. Call Advance(). Advance can itself create work — entries just made
//     durable commit (a lone voter, or a leader whose own copy was the
//     missing acknowledgement), become appliable, and the new commit index
//     is announced — so go back to HasReady. TestAdvanceCanCreateWork
//
// Between Ready and Advance, HasReady is false whatever happens, so a host
// that runs steps 0–3 on another goroutine (an fsync, say) may keep calling
// Tick, Step and the request methods on the server's goroutine and never
// takes a second Ready early; calling Ready twice without Advance is a bug
// in the host and panics (TestReadyAdvanceProtocol). Entries and snapshots
// handed out in a Ready or a Message are never modified afterwards; the
// Messages slice itself is reused once Advance is called, so a host that
// keeps a message past Advance copies the Message value.
// TestReadyMessagesStayIntactUntilAdvance
//
// Status, Entries and CheckInvariants are for dashboards, checkers and
// tests; Status().Conf.Addresses holds the members' addresses, kept
// through snapshots and restarts (TestAddressesFollowTheConfiguration).
//
// # Figure 2, state
//
//	currentTerm, votedFor   Raft.term, Raft.vote (raft.go); made durable
//	                        through Ready.HardState with MustSync (ready.go)
//	                        before any message that depends on them.
//	                        TestVoteDurableBeforeAnswer,
//	                        TestCandidacyDurableBeforeRequests,
//	                        TestScenarioCrashAfterEveryTermOrVoteChange
//	log[]                   raftLog (log.go); made durable through
//	                        Ready.Entries with MustSync.
//	                        TestEntriesDurableBeforeAck,
//	                        TestAdvanceIgnoresOverwrittenEntries,
//	                        TestHandedOutEntriesNeverChange
//	commitIndex             raftLog.committed (log.go); only grows.
//	                        TestCommitNeverMovesBack
//	lastApplied             raftLog.applied (log.go), moved by Advance; only
//	                        durable entries are handed out to apply.
//	                        TestAppliesCommittedInOrder
//	nextIndex[], matchIndex[]  progress.next, progress.match (progress.go).
//	                        TestProgressStates, TestFigure7LogRepair
//
// # Figure 2, rules for servers
//
// All servers:
//   - "If commitIndex > lastApplied: increment lastApplied, apply
//     log[lastApplied]": raftLog.unapplied, Ready.CommittedEntries
//     (log.go, ready.go). TestAppliesCommittedInOrder
//   - "If RPC request or response contains term T > currentTerm: set
//     currentTerm = T, convert to follower": Raft.stepTerm (raft.go).
//     TestHigherTermMakesFollower
//
// Followers: "If election timeout elapses without receiving AppendEntries
// RPC from current leader or granting vote to candidate: convert to
// candidate": tickElection (election.go); the timer restarts on
// AppendEntries (stepFollower, replication.go) and on a granted vote
// (handleVoteRequest), and not on a new term alone (Raft.stepTerm).
// TestFollowerStartsElectionOnTimeout, TestAppendEntriesResetsElectionTimer,
// TestGrantingVoteResetsElectionTimer, TestRefusingAVoteDoesNotResetElectionTimer
//
// Candidates:
//   - on conversion, increment currentTerm, vote for self, reset the timer,
//     send RequestVote to all others: becomeCandidate (raft.go),
//     requestVotes (election.go). TestCandidateStartsElection
//   - votes from a majority: become leader: recordVote, winElection
//     (election.go). TestCandidateWinsWithMajority,
//     TestVotesCountOncePerVoter
//   - AppendEntries from the new leader: convert to follower: stepCandidate
//     (election.go). TestCandidateFollowsLeaderOfItsTerm
//   - election timeout: new election. TestCandidateRestartsElectionOnTimeout
//
// Leaders:
//   - upon election, announce; heartbeats during idle periods: becomeLeader
//     (raft.go, with the no-op entry of §8), tickHeartbeat, bcastHeartbeat
//     (replication.go). TestLeaderAnnouncesItselfAndHeartbeats,
//     TestLeaderAppendsNoopOnElection
//   - command from a client: append, replicate, answer once applied:
//     Propose (replication.go). TestLeaderAppendsProposal
//   - send entries from nextIndex; on success update nextIndex and
//     matchIndex; on inconsistency move nextIndex back and retry:
//     sendAppend, handleAppendResponse (replication.go), maybeUpdate,
//     maybeDecrTo (progress.go). TestProgressStates, TestFigure7LogRepair,
//     TestRejectionInReplicateFallsBackToProbe
//   - commit N when a majority has matchIndex ≥ N and log[N].term ==
//     currentTerm: maybeCommit (replication.go). TestLeaderCommitRule
//
// # Figure 2, RPCs
//
// AppendEntries is MsgApp/MsgAppResp (a MsgHeartbeat is an empty one that
// carries commit). Receiver, handleAppend (replication.go):
//  1. term < currentTerm: reply false with our term (stepTerm, raft.go).
//     TestStaleTermRejected, TestScenarioStaleLeaderLearnsTermFromReply
//  2. no entry at prevLogIndex with prevLogTerm: reply false, with the
//     conflict hint. TestAppendRejectsMismatch
//  3. and 4. delete conflicting entries and all after, append new ones,
//     never shorten the log for a stale or duplicated request:
//     raftLog.truncateAndAppend (log.go). TestAppendTruncatesConflicts
//  5. commitIndex = min(leaderCommit, index of last new entry).
//     TestAppendCommitRule
//
// RequestVote is MsgVote/MsgVoteResp. Receiver, handleVoteRequest
// (election.go):
//  1. term < currentTerm: reply false with our term (stepTerm).
//     TestStaleTermRejected, TestScenarioStaleCandidateLearnsTermFromReply
//  2. grant if votedFor is null or the candidate, and the candidate's log
//     is at least as up-to-date (raftLog.isUpToDate, §5.4.1).
//     TestVoteGranting, TestElectionRestriction; one vote per term is also
//     asserted by setVote (raft.go). TestOneVotePerTerm
//
// # Features
//
// Elections (election.go, raft.go):
//   - randomized timeouts (§5.2): resetRandomizedElectionTimeout.
//     TestRandomizedElectionTimeout, TestRandomizedTimeoutsAvoidSplitVotes
//   - PreVote (thesis §9.6): becomePreCandidate, MsgPreVote; no term or
//     vote changes, a grant carries the term asked about.
//     TestPreVoteKeepsTermWhilePartitioned, TestPreVoteChangesNoState,
//     TestPreCandidateBecomesCandidateWithMajority
//   - a lower-term pre-vote is refused with the responder's term (stepTerm),
//     so a lagging server catches up. TestLowerTermPreVoteRejectedWithTerm,
//     TestScenarioNodeWithSmallerTermCanCompleteElection (etcd #8501)
//   - a pre-candidate forgets its leader. TestPreCandidateForgetsLeader
//   - CheckQuorum (thesis §6.2): checkQuorumActive in tickHeartbeat
//     (replication.go). TestCheckQuorumLeaderStepsDown,
//     TestCheckQuorumDeposesPartitionedLeader
//   - no votes within an election timeout of hearing from a leader unless
//     the request comes from a transfer (§4.2.3): stepTerm,
//     withholdingVotes, kept in its own counter (withholdVotesUntil, as
//     LogCabin does) that no term or leader change resets.
//     TestLeaseIgnoresVoteRequests, TestRemovedServerCannotDisrupt,
//     TestLeasePromiseSurvivesTermBump,
//     TestScenarioLeaseSurvivesTermBumpWithoutPreVote; a server that cannot
//     campaign still lets that window run out.
//     TestScenarioLearnerLeaseExpires
//
// Replication (replication.go, progress.go, log.go):
//   - fast backtracking with the conflict term and index (§5.3).
//     TestFastBacktrackingLongDivergentLog, TestAppendRejectsMismatch
//   - Probe, Replicate and Snapshot states per follower. TestProgressStates
//   - pipelining bounded by MaxInflightMsgs and MaxInflightBytes
//     (inflights). TestPipeliningWindow
//   - batching up to MaxMsgBytes (raftLog.slice).
//     TestBatchingUpToMaxMsgBytes
//   - heartbeats carry commit, capped at the follower's match.
//     TestHeartbeatCarriesCommit, TestClusterCommitReachesFollowers
//   - a new commit index is announced at once (bcastCommit: an empty
//     AppendEntries where nothing new is due), so followers apply, and
//     answer the clients waiting on them, without waiting for a heartbeat.
//     TestCommitIsAnnouncedAtOnce
//   - the commit rule of §5.4.2, Figure 8: maybeCommit.
//     TestFigure8CommitRule, TestFigure8Overwrite,
//     TestFigure8CommitFromCurrentTerm
//
// Snapshots (snapshot.go):
//   - Compact. TestCompact
//   - InstallSnapshot to a follower whose entries are compacted away
//     (sendSnapshot, handleSnapshot). TestInstallSnapshotOnFarBehindFollower
//   - Figure 13 rule 6: a matching entry at the snapshot's index keeps the
//     log after it, and the reply vouches for the snapshot's index only.
//     TestSnapshotRule6KeepsFollowingEntries,
//     TestSnapshotRule6ReplyDoesNotCommitForeignEntries
//   - rule 7: otherwise, including a conflicting entry at the snapshot's
//     index, the whole log goes. TestSnapshotRule7DiscardsLog,
//     TestScenarioSnapshotConflictAtLastIndex
//   - a snapshot (or its answer) lost in the network is sent again an
//     election timeout after it was sent (tickHeartbeat), or at once when
//     the host reports the send failed (ReportSnapshot).
//     TestLostSnapshotIsResent, TestSnapshotInFlightTimedFromSend,
//     TestReportSnapshotFailure
//
// Membership, one server at a time (membership.go; thesis chapter 4):
//   - a configuration is in force once in the log, and reverts if the
//     entry is truncated (configuration). TestConfigurationInForceWhenAppended
//   - members' addresses ride in the configuration (applyConfChange):
//     set by the change that adds a member, dropped with it, kept in
//     snapshots. TestAddressesFollowTheConfiguration
//   - learners catch up, do not vote and do not count.
//     TestLearnerCatchesUpWithoutVoting, TestLearnerGetsNoVoteRequests
//   - promotion and removal. TestPromoteLearner, TestRemoveFollower
//   - one change at a time: ErrConfChangePending. TestOneChangeAtATime
//   - a new leader commits an entry of its term first (raft-dev erratum).
//     TestNewLeaderCommitsBeforeChange
//   - a removed leader does not count itself and steps down once the
//     removal commits (onCommit, replication.go). TestRemovedLeaderStepsDown,
//     TestScenarioRemovedLeaderStepsDown
//   - a server removed by a change that is not yet committed may still
//     stand (promotable, raft.go). TestScenarioRemovedByUncommittedChangeCanStillLead
//   - a removed server that never heard of its removal (the leader stops
//     replicating to it once the change is in its log) and asks for votes
//     is told by the voters that committed it (MsgRemoved, with their
//     commit index), and no longer campaigns while it knows of no later
//     configuration (membership.go, §4.2.3). The vote request is answered
//     as before. TestRemovedServerLearnsItWhenItAsksForVotes,
//     TestRemovedServerCannotDisrupt
//   - a removed learner, which never campaigns, is told the same way when
//     it forwards a read index (readindex.go), by whichever server gets
//     it, and when it forwards what raft does not carry (the host calls
//     TellIfRemoved). TestRemovedLearnerLearnsItWhenItAsksForAReadIndex
//   - a learner that heard from no leader for an election timeout asks the
//     voters of its configuration whether it is still a member
//     (MsgMemberQuery, election.go), once per election timeout: one removed
//     while down knows no leader and would ask nothing else. Only a server
//     that counts it no member answers (MsgRemoved); the question carries
//     no term and changes nothing. TestLearnerThatHearsNoLeaderAsksTheVoters
//
// Leadership transfer (transfer.go; thesis §3.10): TimeoutNow makes the
// target campaign at once, past the voters' leases
// (TestTransferLeadership, TestTimeoutNowStartsElectionAtOnce); the target
// is caught up first (TestTransferCatchesTargetUpFirst); proposals are
// refused meanwhile (TestTransferRefusesProposals); an election timeout
// aborts it (TestTransferAbortsAfterElectionTimeout); followers forward the
// request (TestTransferRequests).
//
// Linearizable reads (readindex.go; thesis §6.4):
//   - ReadIndex on the leader, confirmed by a quorum's heartbeat answers;
//     one round confirms all earlier reads. TestReadIndexOnLeader,
//     TestReadIndexConfirmsEarlierReads
//   - heartbeat rounds are numbered by the leader (readRound, carried in
//     Message.Round); each voter counts with the highest round it answered
//     and a read is confirmed by a quorum at or past the round begun after
//     it arrived (confirmReads) — never by matching the hosts' contexts.
//     TestReadConfirmedOnlyByLaterRound, TestReadConfirmedByAnyLaterRound
//   - a leader that appended its own removal leads a configuration without
//     itself (§4.1): it does not count its own answer, and is no lone voter.
//     TestScenarioSelfRemovedLeaderOfTwoCannotReadAlone,
//     TestScenarioSelfRemovedLeaderOfFourCannotCountItself
//   - on a follower, forwarded to the leader.
//     TestReadIndexOnFollowerServedAfterApply
//   - never before the leader committed an entry of its term.
//     TestReadIndexWaitsForCurrentTermCommit,
//     TestScenarioReadIndexBeforeCurrentTermCommit
//   - a deposed or cut-off leader cannot answer in ReadSafe mode.
//     TestDeposedLeaderCannotServeReads
//   - ReadLease (§6.4.1), only with CheckQuorum (TestConfigValidation): the
//     lease runs ElectionTicks−LeaseMarginTicks from the sending of a
//     heartbeat round a quorum answered (leaseValid), ends for good with a
//     transfer, and a restarted server does not vote for its first election
//     timeout (withholdVotesUntil set in New). The drift it tolerates is
//     stated on Config.LeaseMarginTicks. TestLeaseRead,
//     TestLeaseNeverOutlivesNewLeader, TestLeaseRevokedByTransfer,
//     TestLeaseStaysRevokedAfterTransfer, TestLeaseStartupGuard
//
// # Invariants
//
// The code panics on a broken invariant, with the state that broke it:
// commitTo beyond the log, truncateAndAppend at or below the commit index,
// setVote for a second candidate in a term, impossible role changes
// (TestCommittedEntryNeverChanges, TestOneVotePerTerm, TestAssertionsPanic).
// CheckInvariants (invariants.go) checks applied ≤ committed ≤ last index
// and the shape of the log and of the roles after every step in tests and
// in the simulator (TestCheckInvariantsCatchesCorruption).
//
// # Tests
//
// cluster_test.go is the harness: an in-memory cluster whose nodes persist
// to a memStore exactly what their Readys hand out, so a restart comes back
// with exactly what was durable, on a network tests can cut, partition,
// delay, drop (dropFn) and duplicate. After every Ready it checks that
// terms, votes and acknowledged entries were durable before the messages
// that depend on them, that no server votes twice in a term, that no two
// servers apply different entries at one index, and CheckInvariants.
// Tests on one server use the helpers of server_test.go. Each paper test
// quotes the sentence it checks and ends with its section. scenario_test.go
// replays known regressions (among them, besides those named above,
// TestScenarioPreVoteCheckQuorumElectsLeader: a partitioned follower comes
// back as the leader dies, and a leader must still be elected);
// property_test.go runs random clusters under
// faults with rapid and checks Election Safety, Log Matching, Leader
// Completeness and State Machine Safety after every step, and progress
// once the faults stop. BenchmarkClusterThroughput (bench_test.go)
// measures proposals applied on every server per second.
package raft
