-- wrk script: a queued visitor reloading the HTML waiting page (a browser
-- without JavaScript). The first answer hands out a ticket, the second
-- checks it in; later pages are rendered from the cached view.
local ticket = nil
request = function()
  local h = { ["Accept"] = "text/html" }
  if ticket ~= nil then
    h["Cookie"] = ticket
  end
  return wrk.format("GET", "/", h)
end
response = function(status, headers, body)
  local sc = headers["Set-Cookie"] or headers["set-cookie"]
  if sc ~= nil then
    ticket = sc:match("^([^;]+)")
  end
end
