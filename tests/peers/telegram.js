// telegram.js: start the telegram-test-api emulator (the Telegram Bot API
// as seen by a bot, plus a "user side" to play the other person) on
// 127.0.0.1 and a free port, for dater's tests.
//
//   node tests/peers/telegram.js [--port N] [--log FILE] [--store-timeout S]
//                                [--detach]
//
// Prints "PORT n" on stdout once it is listening, then serves until
// SIGTERM/SIGINT, or until its parent process goes away (so a test that
// dies does not leave an emulator behind; --detach turns that off).
// --log FILE appends one JSON line per request served:
// {"method","path","status"} (the path holds the test token: test tokens
// only). Exit status 1 if it cannot start.
//
// Bot side: POST {base}/bot{TOKEN}/getUpdates, sendMessage, ... .
// User side: POST {base}/sendMessage {"botToken","from","chat","text",
// "date"} injects a message; POST {base}/getUpdates {"token","chatId"}
// returns what the bot sent to that chat (each message once).
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');

const TelegramServer = require(path.join(__dirname, '..', 'node_modules',
    'telegram-test-api'));

function usage() {
	process.stderr.write('usage: telegram.js [--port N] [--log FILE] ' +
	    '[--store-timeout S] [--detach]\n');
	process.exit(64);
}

function parseArgs(argv) {
	const o = { port: 0, log: null, storeTimeout: 60, detach: false };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const next = () => {
			if (i + 1 >= argv.length)
				usage();
			return argv[++i];
		};
		if (a === '--port')
			o.port = Number(next());
		else if (a === '--log')
			o.log = next();
		else if (a === '--store-timeout')
			o.storeTimeout = Number(next());
		else if (a === '--detach')
			o.detach = true;
		else
			usage();
	}
	if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535 ||
	    !(o.storeTimeout > 0))
		usage();
	return o;
}

// A port nobody listens on right now. The emulator takes port 0 to mean
// its default (9000), so ask the kernel for one first.
function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.once('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}

async function start(o) {
	for (let tries = 0; ; tries++) {
		const port = o.port || await freePort();
		const tg = new TelegramServer({ port, host: '127.0.0.1',
		    storeTimeout: o.storeTimeout });
		try {
			await tg.start();
			return { tg, port };
		} catch (e) {
			// Someone took the free port in between: try another.
			if (o.port || e.code !== 'EADDRINUSE' || tries >= 20)
				throw e;
		}
	}
}

function logRequests(server, file) {
	server.on('request', (req, res) => {
		res.on('finish', () => {
			fs.appendFileSync(file, JSON.stringify({
				method: req.method,
				path: req.url,
				status: res.statusCode,
			}) + '\n');
		});
	});
}

// Whether pid is still our parent (process.ppid is fixed at start).
function alive(pid) {
	try {
		const stat = fs.readFileSync('/proc/self/stat', 'utf8');
		// pid (comm) state ppid ...: comm may hold spaces.
		const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		return Number(f[1]) === pid;
	} catch (e) {
		try {
			process.kill(pid, 0);
			return true;
		} catch (e2) {
			return e2.code === 'EPERM';
		}
	}
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	let started;
	try {
		started = await start(o);
	} catch (e) {
		process.stderr.write(`telegram.js: cannot start: ${e.message}\n`);
		process.exit(1);
	}
	const { tg, port } = started;
	if (o.log)
		logRequests(tg.server, o.log);
	const stop = () => {
		tg.stop().finally(() => process.exit(0));
		setTimeout(() => process.exit(0), 2000).unref();
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	if (!o.detach) {
		const parent = process.ppid;
		setInterval(() => {
			if (!alive(parent))
				stop();
		}, 500).unref();
	}
	process.stdout.write(`PORT ${port}\n`);
}

main();
