{#-
  lp_audittrail__current_values is the current rows of lp_audittrail__property_history,
  deletions included: every property with a value now has one current period, of the same
  change and value; every property deleted now has none; and no current period is missing from
  current_values.
-#}
with periods as (

    select object_id, element, change_id, value
    from {{ ref('lp_audittrail__property_history') }}
    where is_current

),

current_values as (

    select object_id, element, last_change_id, current_value, is_deleted
    from {{ ref('lp_audittrail__current_values') }}

)

select
    coalesce(current_values.object_id, periods.object_id) as object_id,
    coalesce(current_values.element, periods.element) as element,
    current_values.last_change_id,
    periods.change_id as current_period_change_id
from current_values
full outer join periods
    on periods.object_id = current_values.object_id
    and periods.element = current_values.element
where current_values.object_id is null
    or (current_values.is_deleted and periods.object_id is not null)
    or (not current_values.is_deleted and periods.object_id is null)
    or (not current_values.is_deleted and periods.change_id <> current_values.last_change_id)
    or (not current_values.is_deleted
        and not {{ lp_audittrail_null_safe_equal('periods.value', 'current_values.current_value') }})
