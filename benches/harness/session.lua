-- wrk script: behave as one admitted visitor, keeping the session cookie the
-- way a browser does (the first answer sets a provisional session, the next
-- one its confirmed form), so the run measures the admitted path, not
-- admission.
--
-- wrk sends a request built once at start-up unless the script defines
-- `request`; changing wrk.headers in `response` alone would never reach the
-- wire, and every request would be a new visitor. The request is built
-- again only when the cookie changes, so the load generator stays cheap.
wrk.path = "/"
local req = nil
request = function()
  if req == nil then
    req = wrk.format()
  end
  return req
end
response = function(status, headers, body)
  local sc = headers["Set-Cookie"] or headers["set-cookie"]
  if sc ~= nil then
    local c = sc:match("^([^;]+)")
    if c ~= wrk.headers["Cookie"] then
      wrk.headers["Cookie"] = c
      req = nil
    end
  end
end
