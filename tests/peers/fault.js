#!/usr/bin/env node
/*
 * fault.js: a scriptable HTTP server that plays the faults real peers
 * cannot: slow answers, dropped connections, truncated or non-JSON bodies,
 * Retry-After headers, any status. Plain node, no dependencies.
 *
 *   node tests/peers/fault.js [--log FILE] [--host ADDR] SCRIPT
 *
 * It listens on 127.0.0.1 (or --host), port 0 (a free port), and prints
 * "PORT <n>" on stdout once it is listening. SCRIPT is a file name, or the
 * JSON text itself when it starts with '[' or '{'.
 *
 * A script is an array of steps, served in order, one per request; after
 * the last step the last one repeats:
 *
 *   [ {"status": 429, "headers": {"Retry-After": "2"}, "json": {...}},
 *     {"status": 200, "body": "plain text", "delay_ms": 300} ]
 *
 * A step's fields (all optional):
 *   status     HTTP status (default 200)
 *   headers    {"Name": "value"} added to the response
 *   body       the body, a string sent as is
 *   json       the body, any JSON value (Content-Type: application/json
 *              unless headers say otherwise)
 *   repeat     send the body this many times over (big bodies)
 *   chunked    true: no Content-Length, chunked transfer encoding
 *   delay_ms   wait this long before answering (or dropping)
 *   drop       true: destroy the connection without answering
 *   truncate   true: announce the whole body in Content-Length, send the
 *              first half, then close the connection
 *   times      serve this step this many times before moving on
 *              (default 1; the last step repeats forever)
 *   seq        true: every "{{seq}}" in the body becomes the request's
 *              number (0, 1, ...: its place in the log), so that each
 *              answer is different (a reply a test can trace)
 *
 * Different paths may have different scripts: a script may instead be
 *
 *   {"routes": [{"method": "POST", "path": "/sendMessage$", "steps": [...]},
 *               {"path": ".", "steps": [...]}]}
 *
 * where "path" is a regular expression matched against the request path
 * (with its query string) and "method" is optional; the first route that
 * matches a request serves it from its own steps. A request that matches
 * no route gets 404. The array form is one route that matches everything.
 *
 * A route may also hold "updates": an array of Telegram updates (objects
 * with an integer "update_id"). A step of that route with "updates": true
 * answers as getUpdates does: {"ok": true, "result": [...]} with the
 * updates whose update_id is at least the request's JSON "offset" (all
 * without one), at most its "limit" (default 100) and at most the
 * route's "page" (if given), so a client that loses an answer gets the
 * same updates again until it moves past them.
 *
 * Every request (but the control ones below) is appended, before it is
 * answered, as one JSON line to the --log FILE:
 *
 *   {"method": "POST", "path": "/v1/chat/completions", "headers": {...},
 *    "body": "...", "at_ms": 1790000000123, "route": 0, "step": 0}
 *
 * headers have lower-case names; body is the raw request body as a
 * string; at_ms is the arrival time in ms since the epoch.
 *
 * Control requests, never logged nor counted as steps:
 *   POST /__fault/script    replace the script (body: the JSON) and
 *                           restart every route at its first step
 *   POST /__fault/reset     restart at the first step, forget requests
 *   GET  /__fault/requests  the requests so far, as a JSON array
 */
'use strict';

const fs = require('fs');
const http = require('http');

function usage(msg) {
	if (msg)
		process.stderr.write('fault.js: ' + msg + '\n');
	process.stderr.write('usage: node fault.js [--log FILE] ' +
	    '[--host ADDR] SCRIPT\n');
	process.exit(64);
}

function parseArgs(argv) {
	const o = { log: null, host: '127.0.0.1', script: null };

	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];

		if (a === '--log' || a === '--host') {
			if (i + 1 >= argv.length)
				usage(a + ' needs a value');
			o[a.slice(2)] = argv[++i];
		} else if (a === '-h' || a === '--help') {
			usage();
		} else if (o.script === null) {
			o.script = a;
		} else {
			usage('unexpected argument \'' + a + '\'');
		}
	}
	if (o.script === null)
		usage('no script');
	return o;
}

/* The script's routes, each {method, path (RegExp), steps, at, served}. */
function compile(text, where) {
	let s;

	try {
		s = JSON.parse(text);
	} catch (e) {
		throw new Error(where + ': ' + e.message);
	}
	if (Array.isArray(s))
		s = { routes: [{ steps: s }] };
	if (s === null || typeof s !== 'object' || !Array.isArray(s.routes))
		throw new Error(where + ': expected an array of steps or ' +
		    '{"routes": [...]}');
	return s.routes.map((r, i) => {
		if (!Array.isArray(r.steps) || r.steps.length === 0)
			throw new Error(where + ': routes[' + i + ']: no steps');
		return {
			method: r.method ? String(r.method).toUpperCase() : null,
			path: new RegExp(r.path || ''),
			steps: r.steps,
			updates: Array.isArray(r.updates) ? r.updates : [],
			page: Number.isInteger(r.page) && r.page > 0 ? r.page :
			    Infinity,
			at: 0,
			served: 0
		};
	});
}

function loadScript(arg) {
	const t = arg.trimStart();

	if (t.startsWith('[') || t.startsWith('{'))
		return compile(arg, 'script');
	return compile(fs.readFileSync(arg, 'utf8'), arg);
}

/* The step for this request, advancing the route's position. */
function nextStep(route) {
	const i = route.at;
	const step = route.steps[i];
	const times = Number.isInteger(step.times) && step.times > 0 ?
	    step.times : 1;

	route.served++;
	if (route.served >= times && i + 1 < route.steps.length) {
		route.at = i + 1;
		route.served = 0;
	}
	return { step, i };
}

function answer(req, res, step, seq) {
	const headers = Object.assign({}, step.headers || {});
	let body = '';

	if (step.json !== undefined) {
		body = JSON.stringify(step.json);
		const named = Object.keys(headers).some(
		    (k) => k.toLowerCase() === 'content-type');
		if (!named)
			headers['Content-Type'] = 'application/json';
	} else if (step.body !== undefined) {
		body = String(step.body);
	}
	if (step.seq)
		body = body.split('{{seq}}').join(String(seq));
	if (Number.isInteger(step.repeat) && step.repeat > 1)
		body = body.repeat(step.repeat);
	if (step.drop) {
		req.socket.destroy();
		return;
	}
	const buf = Buffer.from(body, 'utf8');
	if (!step.chunked)
		headers['Content-Length'] = String(buf.length);
	res.writeHead(step.status || 200, headers);
	if (step.truncate) {
		res.write(buf.subarray(0, Math.floor(buf.length / 2)), () =>
		    req.socket.destroy());
		return;
	}
	res.end(buf);
}

function control(state, req, res, body) {
	const reply = (status, v) => {
		res.writeHead(status, { 'Content-Type': 'application/json' });
		res.end(JSON.stringify(v));
	};
	const reset = () => {
		for (const r of state.routes) {
			r.at = 0;
			r.served = 0;
		}
	};

	if (req.method === 'GET' && req.url === '/__fault/requests')
		return reply(200, state.requests);
	if (req.method === 'POST' && req.url === '/__fault/reset') {
		reset();
		state.requests = [];
		return reply(200, { ok: true });
	}
	if (req.method === 'POST' && req.url === '/__fault/script') {
		try {
			state.routes = compile(body, 'script');
		} catch (e) {
			return reply(400, { error: e.message });
		}
		return reply(200, { ok: true });
	}
	return reply(404, { error: 'unknown control request' });
}

/* getUpdates: the updates from the request's offset on, up to its limit. */
function pending(route, body) {
	let q = {};

	try {
		q = JSON.parse(body || '{}') || {};
	} catch (e) {
		q = {};
	}
	const offset = Number.isInteger(q.offset) ? q.offset : -Infinity;
	const limit = Number.isInteger(q.limit) && q.limit > 0 ? q.limit : 100;
	return route.updates.filter((u) => u.update_id >= offset)
	    .slice(0, Math.min(limit, route.page));
}

function serve(state, req, res, body, at) {
	const ri = state.routes.findIndex((r) =>
	    (r.method === null || r.method === req.method) &&
	    r.path.test(req.url));
	let si = -1;
	let step = null;

	if (ri >= 0)
		({ step, i: si } = nextStep(state.routes[ri]));
	const entry = { method: req.method, path: req.url,
	    headers: req.headers, body, at_ms: at, route: ri, step: si };
	const seq = state.requests.length;

	state.requests.push(entry);
	if (state.log !== null)
		fs.appendFileSync(state.log, JSON.stringify(entry) + '\n');
	if (step === null)
		step = { status: 404, json: { error: 'fault.js: no route for ' +
		    req.method + ' ' + req.url } };
	else if (step.updates === true)
		step = Object.assign({}, step, { json: { ok: true,
		    result: pending(state.routes[ri], body) } });

	const delay = Number(step.delay_ms) || 0;
	if (delay <= 0)
		return answer(req, res, step, seq);
	const timer = setTimeout(() => {
		if (!req.socket.destroyed)
			answer(req, res, step, seq);
	}, delay);
	/* The client gave up: nothing left to answer. */
	res.on('close', () => clearTimeout(timer));
}

function main() {
	const o = parseArgs(process.argv.slice(2));
	const state = { routes: null, requests: [], log: o.log };

	try {
		state.routes = loadScript(o.script);
	} catch (e) {
		process.stderr.write('fault.js: ' + e.message + '\n');
		process.exit(65);
	}
	if (o.log !== null)
		fs.writeFileSync(o.log, '', { flag: 'a' });

	const server = http.createServer((req, res) => {
		const at = Date.now();
		const chunks = [];

		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');

			if (req.url.startsWith('/__fault/'))
				control(state, req, res, body);
			else
				serve(state, req, res, body, at);
		});
	});
	server.on('clientError', (err, socket) => socket.destroy());
	server.listen(0, o.host, () => {
		process.stdout.write('PORT ' + server.address().port + '\n');
	});
	for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
		process.on(sig, () => process.exit(0));
}

main();
