/// The rating page: HTML, CSS and JavaScript served by the rating server itself, so it works with no network.
///
/// Blind by construction: the page only ever receives prompt texts, image tokens and this rater's ratings.
enum RatingPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Rate images · CATImage</title>
        <link rel="stylesheet" href="/rate.css">
        </head>
        <body data-status="loading">
        <header>
          <h1>Rate images</h1>
          <p id="progress" aria-live="polite"></p>
          <p id="who" hidden>Rating as <strong id="rater-label"></strong>
            <button id="change-rater" type="button" class="link">change</button></p>
        </header>
        <main>
          <section id="login" hidden>
            <form id="login-form">
              <label for="rater-name">Your name or rater token</label>
              <input id="rater-name" name="rater" autocomplete="off" maxlength="100" required>
              <button type="submit">Start rating</button>
            </form>
            <p class="note">Kept in this browser and sent with every rating. Several people can rate the same
              images; each one's ratings are kept apart by this name.</p>
          </section>
          <section id="task" hidden>
            <p class="prompt-label">Prompt <span id="prompt-number"></span> <span id="skipped-mark" hidden>(skipped)</span></p>
            <blockquote id="prompt-text"></blockquote>
            <p class="note">How well does each image show the prompt? 1 = poor, 5 = excellent.</p>
            <div id="images" class="grid"></div>
            <div class="actions">
              <button id="skip" type="button">Skip prompt <kbd>S</kbd></button>
              <button id="undo" type="button">Undo last rating <kbd>U</kbd></button>
            </div>
          </section>
          <section id="finished" hidden>
            <h2 id="finished-title">All prompts are done</h2>
            <p id="finished-text">Thank you. Undo (<kbd>U</kbd>) brings back your last rating.</p>
          </section>
          <p id="message" role="status" aria-live="polite"></p>
          <section id="help">
            <h2>Keys</h2>
            <dl>
              <dt><kbd>1</kbd>–<kbd>5</kbd></dt><dd>rate the selected image; the selection moves to the next unrated one,
                and the next prompt comes when every image is rated</dd>
              <dt><kbd>←</kbd> <kbd>→</kbd> or <kbd>Tab</kbd> <kbd>Shift</kbd>+<kbd>Tab</kbd></dt><dd>select the previous or next image</dd>
              <dt><kbd>S</kbd></dt><dd>skip this prompt</dd>
              <dt><kbd>U</kbd> or <kbd>Backspace</kbd></dt><dd>undo your last rating (it may be on the previous prompt)</dd>
              <dt>mouse</dt><dd>click a number under an image</dd>
            </dl>
          </section>
        </main>
        <script src="/rate.js"></script>
        </body>
        </html>
        """#

    static let css = #"""
        :root { --accent: #1d4ed8; --ink: #1f2328; --muted: #59636e; --paper: #f6f7f9; --card: #fff; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
          background: var(--paper); }
        header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1.5rem; padding: 0.75rem 1.5rem;
          background: var(--card); border-bottom: 1px solid #d0d7de; }
        header h1 { font-size: 1.2rem; margin: 0; }
        header p { margin: 0; color: var(--muted); }
        main { padding: 1rem 1.5rem 2rem; max-width: 1400px; margin: 0 auto; }
        [hidden] { display: none !important; }
        .prompt-label { margin: 0; color: var(--muted); font-size: 0.9rem; }
        blockquote { margin: 0.25rem 0 0.5rem; font-size: 1.35rem; font-weight: 600; }
        .note { color: var(--muted); font-size: 0.9rem; margin: 0.25rem 0 0.75rem; }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 1rem; }
        .card { margin: 0; padding: 0.5rem; background: var(--card); border: 2px solid #d0d7de; border-radius: 8px;
          outline: none; position: relative; }
        .card.selected { border-color: var(--accent); box-shadow: 0 0 0 3px rgba(29, 78, 216, 0.3); }
        .card.rated { background: #f0f7f1; }
        .card .label { position: absolute; top: 0.9rem; left: 0.9rem; background: rgba(0, 0, 0, 0.65); color: #fff;
          font-weight: 700; padding: 0 0.45rem; border-radius: 4px; }
        .card img { display: block; width: 100%; height: auto; aspect-ratio: 1 / 1; object-fit: contain;
          background: #e8eaed; border-radius: 4px; }
        .scale { display: flex; gap: 0.3rem; margin-top: 0.5rem; }
        .scale button { flex: 1; padding: 0.35rem 0; font: inherit; font-weight: 600; border: 1px solid #afb8c1;
          border-radius: 6px; background: #fff; cursor: pointer; }
        .scale button:hover { border-color: var(--accent); }
        .scale button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: #fff; }
        .actions { display: flex; gap: 0.75rem; margin-top: 1rem; }
        button { font: inherit; }
        .actions button, form button { padding: 0.4rem 0.9rem; border: 1px solid #afb8c1; border-radius: 6px;
          background: #fff; cursor: pointer; }
        button.link { border: none; background: none; color: var(--accent); padding: 0; cursor: pointer;
          text-decoration: underline; }
        form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-top: 1rem; }
        form input { font: inherit; padding: 0.4rem 0.6rem; min-width: 16rem; border: 1px solid #afb8c1;
          border-radius: 6px; }
        kbd { font: 0.85em ui-monospace, monospace; padding: 0 0.3em; border: 1px solid #afb8c1;
          border-bottom-width: 2px; border-radius: 4px; background: #fff; }
        #message { min-height: 1.5rem; color: var(--muted); }
        #message.error { color: #b42318; font-weight: 600; }
        #help { margin-top: 1.5rem; padding-top: 0.5rem; border-top: 1px solid #d0d7de; font-size: 0.9rem; }
        #help h2 { font-size: 1rem; margin: 0 0 0.25rem; }
        #help dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
        #help dd { margin: 0; color: var(--muted); }
        """#

    static let javaScript = #"""
        'use strict';
        (function () {
          const storageKey = 'catimage.rater';
          const $ = (id) => document.getElementById(id);
          let rater = '';
          let state = null;
          let selected = 0;
          let queue = Promise.resolve();
          let pending = 0;

          try { rater = localStorage.getItem(storageKey) || ''; } catch (e) { rater = ''; }

          function setStatus() { document.body.dataset.status = pending > 0 ? 'busy' : 'idle'; }

          // Every action runs after the previous one, so keys typed quickly apply in order.
          function enqueue(action) {
            pending += 1;
            setStatus();
            queue = queue.then(action).catch(showError).finally(() => { pending -= 1; setStatus(); });
            return queue;
          }

          async function api(method, path, body) {
            const options = { method: method, headers: {} };
            if (body !== undefined) {
              options.headers['Content-Type'] = 'application/json';
              options.body = JSON.stringify(body);
            }
            const response = await fetch(path, options);
            let data = null;
            try { data = await response.json(); } catch (e) { data = null; }
            if (!response.ok) {
              const message = data && data.error ? data.error.message : 'HTTP ' + response.status;
              throw new Error(message);
            }
            return data;
          }

          function say(text, isError) {
            const message = $('message');
            message.textContent = text;
            message.className = isError ? 'error' : '';
          }

          function showError(error) { say(error.message || String(error), true); }

          function label(index) { return index < 26 ? String.fromCharCode(65 + index) : '#' + (index + 1); }

          function showLogin() {
            state = null;
            $('login').hidden = false;
            $('task').hidden = true;
            $('finished').hidden = true;
            $('who').hidden = true;
            $('progress').textContent = '';
            $('rater-name').value = rater;
            $('rater-name').focus();
            setStatus();
          }

          async function load(promptID) {
            let path = '/api/state?rater=' + encodeURIComponent(rater);
            if (promptID) { path += '&prompt=' + encodeURIComponent(promptID); }
            render(await api('GET', path));
          }

          function render(next) {
            const previous = state && state.prompt ? state.prompt.id : null;
            state = next;
            $('login').hidden = true;
            $('who').hidden = false;
            $('rater-label').textContent = rater;
            const progress = next.progress;
            $('progress').textContent = progress.done + ' of ' + progress.total + ' prompts done' +
              (progress.skipped ? ' (' + progress.skipped + ' skipped)' : '');
            if (!next.prompt) {
              $('task').hidden = true;
              $('finished').hidden = false;
              if (progress.total === 0) {
                $('finished-title').textContent = 'Nothing to rate yet';
                $('finished-text').textContent = 'The collection has no finished images; reload once it has.';
              }
              return;
            }
            $('finished').hidden = true;
            $('task').hidden = false;
            const prompt = next.prompt;
            $('prompt-number').textContent = prompt.number + ' of ' + progress.total;
            $('prompt-text').textContent = prompt.text;
            $('skipped-mark').hidden = !prompt.skipped;
            const grid = $('images');
            const tokens = prompt.images.map((image) => image.token).join(' ');
            if (previous !== prompt.id || grid.dataset.tokens !== tokens) {
              grid.replaceChildren(...prompt.images.map(card));
              grid.dataset.tokens = tokens;
              selected = firstUnrated(0);
            }
            prompt.images.forEach((image, index) => {
              const figure = grid.children[index];
              figure.classList.toggle('rated', image.rating != null);
              figure.querySelectorAll('.scale button').forEach((button) => {
                button.setAttribute('aria-pressed', String(Number(button.dataset.value) === image.rating));
              });
            });
            select(selected);
          }

          function card(image, index) {
            const figure = document.createElement('figure');
            figure.className = 'card';
            figure.tabIndex = 0;
            figure.dataset.position = String(index);
            figure.dataset.token = image.token;
            const badge = document.createElement('span');
            badge.className = 'label';
            badge.textContent = label(index);
            const img = document.createElement('img');
            img.src = image.url;
            img.alt = 'image ' + label(index);
            const scale = document.createElement('div');
            scale.className = 'scale';
            for (let value = 1; value <= 5; value += 1) {
              const button = document.createElement('button');
              button.type = 'button';
              button.tabIndex = -1;
              button.textContent = String(value);
              button.dataset.value = String(value);
              button.setAttribute('aria-label', 'rate image ' + label(index) + ' ' + value + ' of 5');
              button.addEventListener('click', (event) => {
                event.stopPropagation();
                selected = index;
                enqueue(() => rate(index, value));
              });
              scale.appendChild(button);
            }
            figure.append(badge, img, scale);
            figure.addEventListener('focus', () => { selected = index; highlight(); });
            figure.addEventListener('click', () => select(index));
            return figure;
          }

          function firstUnrated(start) {
            const images = state && state.prompt ? state.prompt.images : [];
            for (let step = 0; step < images.length; step += 1) {
              const index = (start + step) % images.length;
              if (images[index].rating == null) { return index; }
            }
            return Math.min(start, Math.max(images.length - 1, 0));
          }

          function highlight() {
            Array.from($('images').children).forEach((figure, index) => {
              figure.classList.toggle('selected', index === selected);
            });
          }

          function select(index) {
            const cards = $('images').children;
            if (cards.length === 0) { return; }
            selected = (index + cards.length) % cards.length;
            if (document.activeElement !== cards[selected]) { cards[selected].focus({ preventScroll: false }); }
            highlight();
          }

          async function rate(index, value) {
            if (!state || !state.prompt || !state.prompt.images[index]) { return; }
            const image = state.prompt.images[index];
            const next = await api('POST', '/api/ratings', { rater: rater, image: image.token, rating: value });
            say('Image ' + label(index) + ' rated ' + value + '.', false);
            if (next.prompt && next.prompt.complete && !(state.prompt.complete)) {
              render(next);
              // A moment to see the last rating, then the next unfinished prompt.
              await new Promise((resolve) => setTimeout(resolve, 350));
              await load();
              return;
            }
            render(next);
            select(firstUnrated(index + 1));
          }

          async function skip() {
            if (!state || !state.prompt) { return; }
            const number = state.prompt.number;
            render(await api('POST', '/api/skips', { rater: rater, prompt: state.prompt.id }));
            say('Prompt ' + number + ' skipped.', false);
          }

          async function undo() {
            const next = await api('POST', '/api/undo', { rater: rater });
            render(next);
            const index = next.prompt ? next.prompt.images.findIndex((image) => image.token === next.undone.token) : -1;
            if (index >= 0) {
              select(index);
              say('Undid rating ' + next.undone.rating + ' of image ' + label(index) + '.', false);
            }
          }

          document.addEventListener('keydown', (event) => {
            if (event.target instanceof HTMLInputElement || event.altKey || event.metaKey) { return; }
            if (event.ctrlKey) {
              if (event.key === 'z' && state) { event.preventDefault(); enqueue(undo); }
              return;
            }
            if (!state) { return; }
            const key = event.key;
            if (key >= '1' && key <= '5' && key.length === 1) {
              event.preventDefault();
              const value = Number(key);
              enqueue(() => rate(selected, value));
            } else if (key === 'ArrowRight' || key === 'ArrowDown') {
              event.preventDefault();
              select(selected + 1);
            } else if (key === 'ArrowLeft' || key === 'ArrowUp') {
              event.preventDefault();
              select(selected - 1);
            } else if (key === 's' || key === 'S') {
              event.preventDefault();
              enqueue(skip);
            } else if (key === 'u' || key === 'U' || key === 'Backspace') {
              event.preventDefault();
              enqueue(undo);
            }
          });

          $('login-form').addEventListener('submit', (event) => {
            event.preventDefault();
            const name = $('rater-name').value.trim();
            if (!name) { say('Enter a name or rater token.', true); return; }
            rater = name;
            try { localStorage.setItem(storageKey, rater); } catch (e) { /* private mode: keep it for this page */ }
            say('', false);
            enqueue(() => load());
          });
          $('change-rater').addEventListener('click', () => {
            try { localStorage.removeItem(storageKey); } catch (e) { /* nothing kept */ }
            rater = '';
            showLogin();
          });
          $('skip').addEventListener('click', () => enqueue(skip));
          $('undo').addEventListener('click', () => enqueue(undo));

          if (rater) { enqueue(() => load()); } else { showLogin(); }
        })();
        """#
}
