/* The cashier's page: a cart, a keypad, a barcode scanner, and one sale followed by polling the API.
   Plain script, no libraries, nothing from the network but this till. Words come from the page
   (#till-words, in the store's language); money is integer fen until it is shown. */
"use strict";

(function () {
  const WORDS = JSON.parse(document.getElementById("till-words").textContent);
  const PRODUCTS = JSON.parse(document.getElementById("till-products").textContent);
  const SALE_POLL_MS = 1000;
  const PAYCODE_POLL_MS = 2000; // while the till's watcher follows a code whose outcome is open
  const PRINTER_POLL_MS = 3000;
  // A barcode scanner is a keyboard that types fast: keys closer than this are one scan.
  const SCAN_GAP_MS = 80;
  const SCAN_MIN_LENGTH = 4;
  const MAX_AMOUNT_DIGITS = 7; // ￥9,999,999.99 on the keypad is plenty for one line

  const byId = (id) => document.getElementById(id);
  const productsById = new Map(PRODUCTS.map((p) => [p.id, p]));
  const productsByBarcode = new Map(PRODUCTS.filter((p) => p.barcode).map((p) => [p.barcode, p]));
  // A typed product id matches in any case ("latte" is LATTE), as everywhere in the till; barcodes exactly.
  const productsByIdKey = new Map(PRODUCTS.map((p) => [p.id.toLowerCase(), p]));

  const state = {
    cart: [], // {product_id|null, name, price_fen, qty}
    keyed: "", // the keypad's text, e.g. "12.5"
    sale: null, // the sale on screen (API JSON)
    saleTimer: null,
    printer: null,
    bannerTimer: null,
  };

  function t(key, values) {
    let text = WORDS[key] || key;
    if (values) {
      for (const [name, value] of Object.entries(values)) text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function yuan(fen) {
    const sign = fen < 0 ? "-" : "";
    const abs = Math.abs(fen);
    return sign + "\uffe5" + Math.floor(abs / 100) + "." + String(abs % 100).padStart(2, "0");
  }

  function keyedFen() {
    // "12.5" -> 1250 without floating point: whole and decimal parts as text.
    if (!state.keyed || state.keyed === ".") return 0;
    const [whole, cents = ""] = state.keyed.split(".");
    return parseInt(whole || "0", 10) * 100 + parseInt((cents + "00").slice(0, 2), 10);
  }

  function fenToYuanText(fen) {
    return Math.floor(fen / 100) + "." + String(fen % 100).padStart(2, "0");
  }

  // -- talking to the till ---------------------------------------------------------------------

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" } };
    if (method !== "GET") {
      // A change is always JSON with this page's token: the till refuses anything else (pos.till.guard).
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body === undefined ? {} : body);
      if (session.csrf) options.headers["X-CSRF-Token"] = session.csrf;
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      return { ok: false, status: 0, data: { error: t("page.network_error") } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = { error: t("error.internal") };
    }
    if (response.status === 401 && !path.startsWith("/api/session")) {
      // Signed out under the cashier's hands (idle): say why; before anyone signed in, just ask.
      askForPin(session.cashier && data ? data.error : null);
    }
    return { ok: response.ok, status: response.status, data };
  }

  // -- who is at the till (pos.till.signin) -----------------------------------------------------------

  const session = { csrf: null, cashier: null, chosen: null, lastTap: 0 };
  const TAP_REPORT_MS = 30000; // taps tell the till at most this often that someone is still here

  let sessionLoading = null;

  function loadSession(message) {
    // One at a time: two first visits at once would each be handed a session, and a token for the other.
    if (!sessionLoading) sessionLoading = fetchSession(message).finally(() => (sessionLoading = null));
    return sessionLoading;
  }

  async function fetchSession(message) {
    const answer = await api("GET", "/api/session");
    if (!answer.ok) return;
    session.csrf = answer.data.csrf_token;
    session.cashier = answer.data.cashier;
    renderCashier();
    if (answer.data.required && !answer.data.cashier) showPin(answer.data.cashiers, message);
  }

  function askForPin(message) {
    if (!byId("signin").hidden) return;
    session.cashier = null;
    renderCashier();
    loadSession(message);
  }

  function showPin(names, message) {
    const box = byId("signin-names");
    box.querySelectorAll("button").forEach((b) => b.remove());
    session.chosen = names.length === 1 ? names[0] : null;
    for (const name of names) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn secondary";
      button.textContent = name;
      button.setAttribute("aria-pressed", String(name === session.chosen));
      button.addEventListener("click", () => {
        session.chosen = name;
        box.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        byId("signin-pin").focus();
      });
      box.appendChild(button);
    }
    byId("signin-none").hidden = names.length > 0;
    const error = byId("signin-error");
    error.textContent = message || "";
    error.hidden = !message;
    byId("signin-pin").value = "";
    byId("signin").hidden = false;
    byId("signin-pin").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const error = byId("signin-error");
    if (!session.chosen) {
      error.textContent = t("page.choose_cashier");
      error.hidden = false;
      return;
    }
    const answer = await api("POST", "/api/session", { name: session.chosen, pin: byId("signin-pin").value });
    byId("signin-pin").value = "";
    if (!answer.ok) {
      error.textContent = answer.data.error;
      error.hidden = false;
      return;
    }
    session.csrf = answer.data.csrf_token;
    session.cashier = answer.data.cashier;
    session.lastTap = Date.now();
    byId("signin").hidden = true;
    renderCashier();
  }

  async function signOut() {
    const answer = await api("POST", "/api/session/end");
    if (answer.ok) session.csrf = answer.data.csrf_token;
    session.cashier = null;
    renderCashier();
    loadSession();
  }

  function renderCashier() {
    byId("cashier-name").textContent = session.cashier || "";
    byId("cashier-name").hidden = !session.cashier;
    byId("sign-out").hidden = !session.cashier;
  }

  function tapped() {
    // Someone is at the till: the idle sign-out starts again (the page's own polling never counts).
    if (!session.cashier || Date.now() - session.lastTap < TAP_REPORT_MS) return;
    session.lastTap = Date.now();
    api("POST", "/api/session/active");
  }

  // -- messages ----------------------------------------------------------------------------------

  function showBanner(text, kind, sticky) {
    const banner = byId("banner");
    banner.textContent = text;
    banner.className = "banner" + (kind === "info" ? " info" : "");
    banner.hidden = false;
    clearTimeout(state.bannerTimer);
    if (!sticky) state.bannerTimer = setTimeout(hideBanner, kind === "info" ? 2500 : 8000);
  }

  function hideBanner() {
    byId("banner").hidden = true;
  }

  // -- the cart and the keypad ----------------------------------------------------------------

  function addProduct(product) {
    const line = state.cart.find((l) => l.product_id === product.id);
    if (line) line.qty += 1;
    else state.cart.push({ product_id: product.id, name: product.name, price_fen: product.price_fen, qty: 1 });
    renderCart();
    const tile = document.querySelector('.product[data-id="' + CSS.escape(product.id) + '"]');
    if (tile) {
      tile.classList.add("flash");
      setTimeout(() => tile.classList.remove("flash"), 250);
    }
  }

  function addKeyedAmount() {
    const fen = keyedFen();
    if (fen <= 0) return false;
    state.cart.push({ product_id: null, name: t("page.custom_item"), price_fen: fen, qty: 1 });
    state.keyed = "";
    renderKeypad();
    renderCart();
    return true;
  }

  function cartTotal() {
    return state.cart.reduce((sum, l) => sum + l.price_fen * l.qty, 0);
  }

  function renderCart() {
    const list = byId("cart");
    list.replaceChildren();
    state.cart.forEach((line, index) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = line.name;
      const minus = button("−", () => changeQty(index, -1));
      const qty = document.createElement("span");
      qty.className = "qty";
      qty.textContent = line.qty;
      const plus = button("+", () => changeQty(index, 1));
      const amount = document.createElement("span");
      amount.className = "amount-text";
      amount.textContent = yuan(line.price_fen * line.qty);
      const remove = button("×", () => {
        state.cart.splice(index, 1);
        renderCart();
      });
      remove.className = "remove";
      remove.setAttribute("aria-label", t("page.remove"));
      li.append(name, minus, qty, plus, amount, remove);
      list.append(li);
    });
    byId("cart-empty").hidden = state.cart.length > 0;
    byId("cart-total").textContent = yuan(cartTotal() + keyedFen());
  }

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function changeQty(index, delta) {
    const line = state.cart[index];
    line.qty = Math.min(9999, line.qty + delta);
    if (line.qty <= 0) state.cart.splice(index, 1);
    renderCart();
  }

  function pressKey(key) {
    let text = state.keyed;
    if (key === "C") text = "";
    else if (key === "⌫") text = text.slice(0, -1);
    else if (key === ".") {
      if (!text.includes(".")) text = (text || "0") + ".";
    } else if (/^\d+$/.test(key)) {
      for (const digit of key) {
        const [whole, cents] = text.split(".");
        if (cents !== undefined && cents.length >= 2) break;
        if (cents === undefined && whole.replace(/^0+/, "").length >= MAX_AMOUNT_DIGITS) break;
        text = text === "0" ? digit : text + digit;
      }
    }
    state.keyed = text;
    renderKeypad();
  }

  function renderKeypad() {
    byId("amount").textContent = yuan(keyedFen());
    byId("cart-total").textContent = yuan(cartTotal() + keyedFen());
  }

  // -- charging ------------------------------------------------------------------------------------

  async function charge(payBy) {
    if (state.keyed && keyedFen() > 0) addKeyedAmount();
    if (state.cart.length === 0) {
      showBanner(t("page.enter_amount"));
      return;
    }
    let body;
    if (state.cart.length === 1 && state.cart[0].product_id === null && state.cart[0].qty === 1) {
      body = { amount: fenToYuanText(state.cart[0].price_fen) };
    } else {
      body = {
        items: state.cart.map((l) =>
          l.product_id
            ? { product_id: l.product_id, qty: l.qty }
            : { name: l.name, price: fenToYuanText(l.price_fen), qty: l.qty }
        ),
      };
    }
    if (payBy === "code") body.pay_by = "code"; // no QR order: the customer's payment code pays it
    const chargeButton = byId(payBy === "code" ? "charge-code" : "charge");
    chargeButton.disabled = true;
    try {
      const answer = await api("POST", "/api/sales", body);
      if (!answer.ok) {
        showBanner(answer.data.error);
        return;
      }
      state.cart = [];
      renderCart();
      hideBanner();
      openSale(answer.data);
    } finally {
      chargeButton.disabled = false;
    }
  }

  // -- one sale on screen ------------------------------------------------------------------------

  function showView(name) {
    for (const id of ["register", "sale", "today"]) byId(id).hidden = id !== name;
  }

  function openSale(sale) {
    state.sale = sale;
    byId("qr").replaceChildren();
    byId("qr").dataset.codeUrl = "";
    showView("sale");
    renderSale();
    scheduleSalePoll();
  }

  function scheduleSalePoll() {
    clearTimeout(state.saleTimer);
    if (!state.sale || state.sale.final) return;
    state.saleTimer = setTimeout(pollSale, SALE_POLL_MS);
  }

  async function pollSale() {
    if (!state.sale) return;
    const answer = await api("GET", "/api/sales/" + state.sale.id);
    if (answer.ok && state.sale && answer.data.id === state.sale.id) {
      state.sale = answer.data;
      renderSale();
    }
    scheduleSalePoll();
  }

  function clockText(iso) {
    // The store's wall clock as the till wrote it ("2026-11-27T12:34:56+08:00" -> "12:34").
    return iso ? iso.slice(11, 16) : "";
  }

  function leftText(iso) {
    const ms = Date.parse(iso) - Date.now();
    if (!(ms > 0)) return "0:00";
    const seconds = Math.floor(ms / 1000);
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  async function renderSale() {
    const sale = state.sale;
    if (!sale) return;
    const statusLine = byId("sale-status");
    statusLine.textContent = sale.status_text;
    statusLine.className = "status " + sale.status;
    byId("sale-total").textContent = sale.total_text;
    byId("sale-no").textContent = sale.out_trade_no;
    const awaiting = sale.status === "awaiting";
    byId("sale-deadline").textContent =
      awaiting && sale.expires_at ? t("page.pay_before", { time: clockText(sale.expires_at), left: leftText(sale.expires_at) }) : "";
    const failure = byId("sale-failure");
    failure.hidden = !(sale.status === "failed" && sale.failure);
    failure.textContent = sale.failure || "";
    const items = byId("sale-items");
    items.replaceChildren();
    for (const item of sale.items) {
      const li = document.createElement("li");
      li.textContent = item.name + " × " + item.qty + "  " + item.amount_text;
      items.append(li);
    }
    byId("void").hidden = !(awaiting || sale.status === "new");
    byId("retry").hidden = sale.status !== "failed";
    byId("reprint").hidden = sale.status === "failed" || sale.status === "new";
    byId("paid-note").hidden = sale.status !== "paid";
    renderPaycode(sale);
    const showQr = (awaiting || sale.status === "voiding") && !!sale.qr_svg_url;
    const box = byId("qr");
    box.hidden = !showQr;
    byId("qr-hint").hidden = !showQr;
    const link = byId("qr-link"); // only with [till] show_code_url (the demo): the QR's text
    if (link) {
      link.hidden = !showQr;
      byId("qr-link-text").textContent = showQr ? sale.code_url : "";
    }
    renderPrinterWarning();
    if (showQr && box.dataset.codeUrl !== sale.code_url) {
      box.dataset.codeUrl = sale.code_url;
      try {
        const response = await fetch(sale.qr_svg_url);
        // The SVG is drawn by this till (qrcode's SVG factory); only ever our own markup.
        if (response.ok) box.innerHTML = await response.text();
        else box.dataset.codeUrl = "";
      } catch (err) {
        box.dataset.codeUrl = "";
      }
    }
    if (!showQr) {
      box.replaceChildren();
      box.dataset.codeUrl = "";
    }
  }

  // -- the customer's payment code (a sale rung up with pay_by "code" stays "new" until paid) ------

  function renderPaycode(sale) {
    const form = byId("paycode-form");
    const wanted = sale.status === "new" && !sale.code_url;
    if (wanted) byId("sale-status").textContent = t("page.awaiting_code"); // not "placing the order"
    if (form.hidden === wanted) {
      form.hidden = !wanted;
      if (wanted) {
        byId("paycode-message").textContent = "";
        byId("charge-qr").hidden = false;
        byId("paycode-input").focus();
      }
    }
  }

  async function payByCode(event) {
    event.preventDefault();
    const input = byId("paycode-input");
    const code = input.value.trim();
    if (!state.sale || !code || input.disabled) return;
    input.disabled = true;
    byId("paycode-message").textContent = t("page.paycode_waiting");
    let pending = false;
    try {
      const answer = await api("POST", "/api/sales/" + state.sale.id + "/pay-code", { auth_code: code });
      input.value = "";
      if (!answer.ok) {
        byId("paycode-message").textContent = answer.data.error;
        return;
      }
      pending = showPaycode(answer.data);
    } finally {
      if (pending) {
        followPaycode(state.sale.id);
      } else {
        input.disabled = false;
        if (!byId("paycode-form").hidden) input.focus();
      }
    }
  }

  // The outcome in the till's words; while it is open (the customer types the password, WeChat
  // has not said) the till's watcher follows it and the page asks every 2 s. True while open.
  function showPaycode(data) {
    const outcome = data.paycode;
    const pending = !!(outcome && outcome.pending);
    byId("paycode-message").textContent = outcome ? outcome.message : "";
    byId("paycode-message").dataset.status = outcome ? outcome.status : "";
    byId("charge-qr").hidden = pending; // one payable order at a time
    if (state.sale && data.id === state.sale.id) {
      state.sale = data;
      renderSale();
      scheduleSalePoll();
    }
    return pending;
  }

  function followPaycode(saleId) {
    clearTimeout(state.paycodeTimer);
    state.paycodeTimer = setTimeout(async () => {
      if (!state.sale || state.sale.id !== saleId) return;
      const answer = await api("GET", "/api/sales/" + saleId + "/pay-code");
      if (answer.ok && !showPaycode(answer.data)) {
        const input = byId("paycode-input");
        input.disabled = false;
        if (!byId("paycode-form").hidden) input.focus();
        return;
      }
      followPaycode(saleId);
    }, PAYCODE_POLL_MS);
  }

  async function chargeQr() {
    if (!state.sale) return;
    const answer = await api("POST", "/api/sales/" + state.sale.id + "/charge-qr");
    if (!answer.ok) {
      showBanner(answer.data.error);
      return;
    }
    openSale(answer.data);
  }

  function renderPrinterWarning() {
    const sale = state.sale;
    const trouble = !!state.printer && !state.printer.ok;
    const qrShown = !!sale && sale.status === "awaiting";
    byId("qr-printer").hidden = !(trouble && qrShown);
    document.querySelector(".qr-side").classList.toggle("big-qr", trouble && qrShown);
  }

  async function voidSale() {
    byId("confirm").hidden = true;
    if (!state.sale) return;
    state.sale = Object.assign({}, state.sale, { status: "voiding", status_text: t("status.voiding") });
    renderSale();
    const answer = await api("POST", "/api/sales/" + state.sale.id + "/void");
    if (answer.ok) state.sale = answer.data;
    else {
      showBanner(answer.data.error);
      await pollSale();
      return;
    }
    renderSale();
    scheduleSalePoll();
  }

  async function saleAction(action) {
    if (!state.sale) return;
    const answer = await api("POST", "/api/sales/" + state.sale.id + "/" + action);
    if (!answer.ok) {
      showBanner(answer.data.error);
      return;
    }
    if (action === "reprint") {
      showBanner(t("page.reprint_queued"), "info");
      if (answer.data.printer) renderPrinter(answer.data.printer);
      return;
    }
    state.sale = answer.data;
    renderSale();
    scheduleSalePoll();
  }

  function closeSale() {
    clearTimeout(state.saleTimer);
    state.sale = null;
    showView("register");
  }

  // -- today's sales -----------------------------------------------------------------------------

  async function showToday() {
    const answer = await api("GET", "/api/sales");
    if (!answer.ok) {
      showBanner(answer.data.error);
      return;
    }
    const rows = byId("today-rows");
    rows.replaceChildren();
    for (const sale of answer.data.sales.slice().reverse()) {
      const tr = document.createElement("tr");
      tr.dataset.id = sale.id;
      const cells = [clockText(sale.created_at), sale.out_trade_no, sale.total_text, sale.status_text];
      cells.forEach((text, index) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (index === 2) td.className = "num";
        if (index === 3) td.className = "state-" + sale.status;
        tr.append(td);
      });
      tr.addEventListener("click", () => openSale(sale));
      rows.append(tr);
    }
    const summary = answer.data.summary;
    byId("today-summary").textContent = t("page.today_summary", { count: summary.paid_count, total: summary.paid_text });
    byId("today-empty").hidden = answer.data.sales.length > 0;
    clearTimeout(state.saleTimer);
    showView("today");
  }

  // -- the printer, always visible ---------------------------------------------------------------

  function renderPrinter(printer) {
    state.printer = printer;
    const pill = byId("printer");
    pill.className = "printer " + (printer.ok ? "ok" : printer.printer === "unknown" ? "unknown" : "bad");
    byId("printer-text").textContent = printer.text;
    byId("printer-queue").textContent = printer.queued > 0 ? "· " + printer.queued_text : "";
    pill.title = printer.last_error || "";
    renderPrinterWarning();
  }

  async function pollPrinter() {
    const answer = await api("GET", "/api/printer");
    if (answer.ok) renderPrinter(answer.data);
    else renderPrinter({ ok: false, printer: "unknown", text: t("printer.unreachable"), queued: 0 });
    setTimeout(pollPrinter, PRINTER_POLL_MS);
  }

  // -- the barcode scanner (a keyboard wedge) ------------------------------------------------------

  const scan = { buffer: "", last: 0, keyedBefore: "" };

  function handleCode(code) {
    const product = productsByBarcode.get(code) || productsByIdKey.get(code.toLowerCase());
    if (!product) {
      showBanner(t("page.unknown_barcode", { code }), "error", true);
      return;
    }
    if (state.sale && state.sale.final) closeSale();
    addProduct(product);
    showBanner(t("page.added", { name: product.name }), "info");
  }

  function onKeyDown(event) {
    if (event.ctrlKey || event.altKey || event.metaKey || !byId("confirm").hidden) return;
    if (!byId("signin").hidden) return; // the PIN is typed into its own field
    const now = performance.now();
    const fast = now - scan.last < SCAN_GAP_MS;
    scan.last = now;
    if (event.key === "Enter") {
      event.preventDefault(); // never "click" the focused button
      const code = scan.buffer;
      scan.buffer = "";
      if (fast && code.length >= SCAN_MIN_LENGTH) {
        state.keyed = scan.keyedBefore; // the scanner's digits were not meant for the keypad
        renderKeypad();
        handleCode(code);
      } else if (!byId("register").hidden && state.keyed) {
        addKeyedAmount();
      }
      return;
    }
    if (event.key.length !== 1) {
      if (event.key === "Backspace" && !byId("register").hidden) pressKey("⌫");
      if (event.key === "Escape") hideBanner();
      return;
    }
    if (!fast) {
      scan.buffer = "";
      scan.keyedBefore = state.keyed;
    }
    scan.buffer = (scan.buffer + event.key).slice(-64);
    if (/^[\d.]$/.test(event.key) && !byId("register").hidden) pressKey(event.key);
    event.preventDefault();
  }

  // -- wiring -------------------------------------------------------------------------------------

  document.querySelectorAll(".product").forEach((tile) =>
    tile.addEventListener("click", () => addProduct(productsById.get(tile.dataset.id)))
  );
  document.querySelectorAll("#keypad .key[data-key]").forEach((key) =>
    key.addEventListener("click", () => pressKey(key.dataset.key))
  );
  byId("add-amount").addEventListener("click", () => {
    if (!addKeyedAmount()) showBanner(t("page.enter_amount"));
  });
  byId("clear").addEventListener("click", () => {
    state.cart = [];
    state.keyed = "";
    renderKeypad();
    renderCart();
    hideBanner();
  });
  byId("charge").addEventListener("click", () => charge("qr"));
  byId("charge-code").addEventListener("click", () => charge("code"));
  byId("paycode-form").addEventListener("submit", payByCode);
  byId("charge-qr").addEventListener("click", chargeQr);
  byId("void").addEventListener("click", () => {
    byId("confirm").hidden = false;
  });
  byId("confirm-no").addEventListener("click", () => {
    byId("confirm").hidden = true;
  });
  byId("confirm-yes").addEventListener("click", voidSale);
  byId("retry").addEventListener("click", () => saleAction("retry"));
  byId("reprint").addEventListener("click", () => saleAction("reprint"));
  byId("next").addEventListener("click", closeSale);
  byId("show-today").addEventListener("click", showToday);
  byId("today-back").addEventListener("click", () => (state.sale ? openSale(state.sale) : showView("register")));
  byId("banner").addEventListener("click", hideBanner);
  document.addEventListener("keydown", onKeyDown);
  document.addEventListener("pointerdown", tapped);
  document.addEventListener("keydown", tapped);
  byId("signin-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", signOut);
  setInterval(() => {
    if (state.sale && state.sale.status === "awaiting" && !byId("sale").hidden) {
      byId("sale-deadline").textContent = t("page.pay_before", {
        time: clockText(state.sale.expires_at),
        left: leftText(state.sale.expires_at),
      });
    }
  }, 1000);

  renderCart();
  renderKeypad();
  loadSession();
  pollPrinter();

  // Rehearsing a scanner (demos, screenshots): /#scan=6901234567892,123 types each code and Enter as
  // fast keydown events, through the very handler a real keyboard-wedge scanner reaches.
  const rehearsal = /^#scan=([\w,.-]+)$/.exec(location.hash);
  if (rehearsal) {
    for (const code of rehearsal[1].split(",")) {
      for (const key of [...code, "Enter"]) document.dispatchEvent(new KeyboardEvent("keydown", { key }));
    }
  }

  // Deep link for a second screen or a test: /#sale=42 opens that sale.
  const match = /^#sale=(\d+)$/.exec(location.hash);
  if (match) {
    api("GET", "/api/sales/" + match[1]).then((answer) => {
      if (answer.ok) openSale(answer.data);
      else showBanner(answer.data.error);
    });
  }
})();
